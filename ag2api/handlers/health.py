"""GET /health: always 200, no auth, no secrets — what an operator or a probe needs to know."""

from __future__ import annotations

import datetime
from typing import Any

from ag2api import __version__
from ag2api.handlers.base import ApiHandler
from ag2api.logs.setup import dropped_log_lines
from ag2api.redact import mask, shown_disabled_reason
from ag2api.state.base import SharingStatus


class HealthHandler(ApiHandler):
    auth_required = False

    def get(self) -> None:
        s = self.services
        snap = s.state.snapshot()
        enabled, disabled = snap.enabled, snap.disabled
        live = s.config
        notices = s.dispatcher.notices
        problems = [
            p
            for p in (live.last_error, s.tokens_error, s.writer.last_error, notices.version_notice)
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
                # Hosts sharing one pool through Redis: where this host's account list stands.
                "sharing": sharing_view(snap.sharing),
            },
            "config": {
                "path": str(live.current.path),
                "loaded_at": _iso(live.loaded_at),
                "last_error": live.last_error,
                "last_error_at": _iso(live.last_error_at),
            },
            "tokens": {
                "path": str(live.current.tokens_file),
                "last_error": s.tokens_error,
                "last_error_at": _iso(s.tokens_error_at),
                # The gateway's own changes (tokens, last use) it could not save yet, and why.
                "unsaved_changes": s.writer.pending_count,
                "write_error": s.writer.last_error,
                "write_error_at": _iso(s.writer.last_error_at),
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
        self.write_json(body)


def sharing_view(sharing: SharingStatus | None) -> dict[str, Any] | None:
    """The shared account list as /health and /admin show it (None: one host)."""
    if sharing is None:
        return None
    return {
        "host": sharing.host,
        "tokens_shared": sharing.tokens_shared,
        "last_sync": _iso(sharing.last_sync),
        "pending": sharing.pending,
        "hosts": [
            {"host": h.host, "last_seen": _iso(h.last_seen), "pending": h.pending}
            for h in sharing.hosts
        ],
        "last_error": sharing.last_error,
    }


def _iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.datetime.fromtimestamp(ts, datetime.UTC).isoformat(timespec="seconds")


ROUTES = [(r"/health", HealthHandler)]
