"""GET /health: always 200, no auth, no secrets — what an operator or a probe needs to know."""

from __future__ import annotations

import datetime
import time
from typing import Any

from ag2api import __version__
from ag2api.handlers.base import ApiHandler
from ag2api.observe.views import shown_reason
from ag2api.redact import mask


class HealthHandler(ApiHandler):
    auth_required = False

    def get(self) -> None:
        s = self.services
        enabled, disabled = s.pool.counts()
        live = s.config
        notices = s.dispatcher.notices
        problems = [
            p
            for p in (live.last_error, s.tokens_error, s.writer.last_error, notices.version_notice)
            if p
        ]
        if enabled == 0:
            status = "no_accounts"
        elif disabled or problems:
            status = "degraded"
        else:
            status = "ok"
        now = time.time()
        cooling = [
            {
                "project": mask(a.project_id),
                "model": model,
                "until": _iso(float(entry["until"])),
                "reason": entry.get("reason"),
            }
            for a in s.pool.accounts
            for model, entry in a.cooldowns.items()
            if s.pool.cooling_until(a, model, now) is not None
        ]
        body: dict[str, Any] = {
            "status": status,
            "version": __version__,
            "accounts": {
                "enabled": enabled,
                "disabled": disabled,
                "disabled_reasons": [
                    {"project": mask(a.project_id), "reason": shown_reason(a)}
                    for a in s.pool.accounts
                    if not a.enabled
                ],
                "cooling": cooling,
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
                "in_flight": s.dispatcher.slots.in_use,
            },
            "models": {"source": s.catalog.source},
        }
        self.write_json(body)


def _iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.datetime.fromtimestamp(ts, datetime.UTC).isoformat(timespec="seconds")


ROUTES = [(r"/health", HealthHandler)]
