"""/admin/api/overview: the gateway at a glance — accounts and keys counted, the config's state
(a refused edit with its file and line, settings waiting for a restart), requests, tokens and
errors per day by key, model or account, the latest client requests (metadata only) and the
latest admin writes."""

from __future__ import annotations

import time

from ag2api import __version__
from ag2api.admin.api.common import AdminApiHandler
from ag2api.admin.views import day_range, rejections_view, series
from ag2api.errors import InvalidRequest
from ag2api.observe.usage import today

GROUPS = {"key": "key", "model": "model", "account": "project"}
MAX_DAYS = 90


class OverviewHandler(AdminApiHandler):
    async def get(self) -> None:
        by = self.get_argument("by", "key")
        if by not in GROUPS:
            raise InvalidRequest(f"'by' takes {', '.join(GROUPS)}", param="by")
        days_arg = self.get_argument("days", "14")
        if not days_arg.isdigit() or not 1 <= int(days_arg) <= MAX_DAYS:
            raise InvalidRequest(f"'days' must be 1 to {MAX_DAYS}", param="days")
        days = day_range(today(), int(days_arg))
        rows = await self.usage(days[0], ("day", GROUPS[by]))
        s = self.services
        snap = s.state.snapshot()
        live = s.config
        self.write_json(
            {
                "version": __version__,
                "now": time.time(),
                "accounts": {
                    "enabled": snap.enabled,
                    "disabled": snap.disabled,
                    "cooling": sum(1 for a in snap.accounts if a.cooling and a.enabled),
                    "in_flight": snap.in_flight,
                },
                "keys": len(self.cfg.api_keys),
                "config": {
                    "path": str(live.current.path),
                    "loaded_at": live.loaded_at,
                    "last_error": live.last_error,
                    "last_error_at": live.last_error_at,
                    # Start-only settings edited since the start (where the gateway reports them).
                    "restart_required": live.restart_required,
                },
                "tokens": {
                    "path": str(live.current.tokens_file),
                    "last_error": s.tokens_error,
                    "last_error_at": s.tokens_error_at,
                    "write_error": s.writer.last_error,
                },
                "state": {"backend": snap.health.backend, "ok": snap.health.ok},
                "version_notice": s.dispatcher.notices.version_notice,
                "usage": {"by": by, **series(rows, GROUPS[by], days)},
                "recent_requests": list(reversed(s.request_log.recent))[:50],
                "admin_writes": [w.to_json() for w in self.access.audit.latest()],
                "content_rejections": rejections_view(s.content_rejections),
            }
        )
