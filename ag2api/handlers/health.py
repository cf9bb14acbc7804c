"""GET /health: always 200, no auth, no secrets — what an operator or a probe needs to know."""

from __future__ import annotations

import datetime
from typing import Any

from ag2api import __version__
from ag2api.handlers.base import ApiHandler


class HealthHandler(ApiHandler):
    auth_required = False

    def get(self) -> None:
        s = self.services
        enabled, disabled = s.pool.counts()
        live = s.config
        problems = [p for p in (live.last_error, s.tokens_error) if p]
        if enabled == 0:
            status = "no_accounts"
        elif disabled or problems:
            status = "degraded"
        else:
            status = "ok"
        body: dict[str, Any] = {
            "status": status,
            "version": __version__,
            "accounts": {"enabled": enabled, "disabled": disabled},
            "config": {
                "path": str(live.current.path),
                "loaded_at": _iso(live.loaded_at),
                "last_error": live.last_error,
                "last_error_at": _iso(live.last_error_at),
            },
            "tokens": {"path": str(live.current.tokens_file), "last_error": s.tokens_error},
            "models": {"source": s.catalog.source},
        }
        self.write_json(body)


def _iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.datetime.fromtimestamp(ts, datetime.UTC).isoformat(timespec="seconds")


ROUTES = [(r"/health", HealthHandler)]
