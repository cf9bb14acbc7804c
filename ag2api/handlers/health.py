"""GET /health: always 200, no auth, no secrets — what an operator or a probe needs to know.
GET /ready (or /health?ready=1): 200 when the gateway can serve, 503 with the reason when it
cannot (no usable account), for orchestrators' readiness probes.

Nothing here names a folder or repeats a refused setting's value: the file, the line and the key
say where a problem is."""

from __future__ import annotations

import datetime
import os
from typing import Any

from ag2api import __version__
from ag2api.config.schema import GatewayConfig
from ag2api.handlers.base import ApiHandler
from ag2api.logs.setup import dropped_log_lines
from ag2api.redact import mask, shown_disabled_reason
from ag2api.state.base import SharingStatus, StateSnapshot


class HealthHandler(ApiHandler):
    auth_required = False

    def get(self) -> None:
        if self.get_query_argument("ready", None) not in (None, "", "0", "false"):
            self.answer_readiness()
            return
        s = self.services
        snap = s.state.snapshot()
        enabled, disabled = snap.enabled, snap.disabled
        live = s.config
        cfg = live.current
        public = Public(cfg)
        notices = s.dispatcher.notices
        tokens_error, write_error = public(s.tokens_error), public(s.writer.last_error)
        watch = s.watch
        problems = [
            p
            for p in (
                live.last_error_public,
                tokens_error,
                write_error,
                watch.problem,
                notices.version_notice,
            )
            if p
        ]
        if not snap.health.ok:
            problems.append(snap.health.last_error or "the state backend is not answering")
        if snap.sharing is not None and snap.sharing.last_error:
            problems.append(snap.sharing.last_error)
        if enabled == 0:
            status = "no_accounts"
        elif disabled or problems:
            status = "degraded"
        else:
            status = "ok"
        cooling = [
            {
                "project": mask(a.project_id),
                "model": c.model,
                "until": _iso(c.until),
                "reason": c.reason,
            }
            for a in snap.accounts
            for c in a.cooling
        ]
        body: dict[str, Any] = {
            "status": status,
            "version": __version__,
            "accounts": {
                "enabled": enabled,
                "disabled": disabled,
                "disabled_reasons": [
                    {
                        "project": mask(a.project_id),
                        "reason": shown_disabled_reason(a.disabled_reason, a.project_id),
                    }
                    for a in snap.accounts
                    if not a.enabled
                ],
                "cooling": cooling,
            },
            # Start-only settings edited since the start: in the file, not in force yet.
            "restart_required": live.restart_required,
            "config": {
                "file": cfg.path.name,
                "loaded_at": _iso(live.loaded_at),
                "last_error": live.last_error_public,
                "last_error_at": _iso(live.last_error_at),
            },
            "tokens": {
                "file": cfg.tokens_file.name,
                "last_error": tokens_error,
                "last_error_at": _iso(s.tokens_error_at),
                # The gateway's own changes (tokens, last use) it could not save yet, and why.
                "unsaved_changes": s.writer.pending_count,
                "write_error": write_error,
                "write_error_at": _iso(s.writer.last_error_at),
            },
            # The hot-reload watcher: whether it runs, and what keeps it from watching.
            "watch": {
                "running": watch.running,
                "last_error": watch.problem,
                "last_error_at": _iso(watch.problem_at),
            },
            "upstream": {
                "version_notice": notices.version_notice,
                "version_notice_at": _iso(notices.version_notice_at),
                "in_flight": snap.in_flight,
            },
            "models": {"source": s.catalog.source},
            "state": snap.health.to_json(),
            # Log lines lost while stdout, stderr or the log file was blocked (ag2api.logs.writer).
            "logs": {"dropped_lines": dropped_log_lines()},
        }
        if snap.sharing is not None:
            # Hosts sharing one pool through Redis: where this host's account list stands.
            body["accounts"]["sharing"] = shared_view(snap.sharing, public)
        self.write_json(body)

    def answer_readiness(self) -> None:
        s = self.services
        reason = cannot_serve(s.state.snapshot(), Public(s.config.current)(s.tokens_error))
        if reason is None:
            self.write_json({"status": "ready"})
        else:
            self.write_json({"status": "cannot_serve", "reason": reason}, status=503)


class ReadyHandler(HealthHandler):
    def get(self) -> None:
        self.answer_readiness()


def cannot_serve(snap: StateSnapshot, tokens_error: str | None) -> str | None:
    """Why no request can be served at all, or None. Accounts that exist but are all cooling
    down still count as usable: that passes by itself."""
    if snap.enabled:
        return None
    if not snap.disabled:
        if tokens_error:
            return f"no usable Google account: {tokens_error}"
        return "no Google account is configured: add one with `ag2api login`"
    return (
        f"all {snap.disabled} Google accounts are disabled: enable one with "
        "`ag2api accounts enable`, or add one with `ag2api login`"
    )


def shared_view(sharing: SharingStatus, public: Public) -> dict[str, Any]:
    """The shared account list as anyone may see it: shared keys held back are counted, not
    named (the console names them), and file names lose their folders."""
    view = sharing.to_json()
    view["keys_held"] = len(view["keys_held"])
    view["last_error"] = public(view["last_error"])
    return view


class Public:
    """A problem's text as anyone may see it: the file names it mentions without their folders."""

    def __init__(self, cfg: GatewayConfig) -> None:
        folders = {cfg.path.parent, cfg.tokens_file.parent}
        # Longest first: a folder inside another is cut whole.
        self._prefixes = sorted((f"{folder}{os.sep}" for folder in folders), key=len, reverse=True)

    def __call__(self, text: str | None) -> str | None:
        if text is None:
            return None
        for prefix in self._prefixes:
            text = text.replace(prefix, "")
        return text


def _iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.datetime.fromtimestamp(ts, datetime.UTC).isoformat(timespec="seconds")


ROUTES = [(r"/health", HealthHandler), (r"/ready", ReadyHandler)]
