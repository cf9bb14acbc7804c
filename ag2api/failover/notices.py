"""Upstream conditions an operator must act on (shown on /health and the console)."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from ag2api.errors import GatewayError

log = logging.getLogger("ag2api.dispatch")


@dataclass
class UpstreamNotices:
    version_notice: str | None = None
    version_notice_at: float | None = None

    def client_outdated(self, user_agent: str, message: str) -> GatewayError:
        """Record the "no longer supported" notice (logged once); the error the client gets."""
        first = self.version_notice is None
        self.version_notice = (
            f"{message.strip()[:200]} — raise upstream.user_agent "
            f"(now {user_agent!r}) to a current Antigravity version"
        )
        self.version_notice_at = time.time()
        if first:
            log.error("upstream refuses this client version: %s", self.version_notice)
        return GatewayError(
            f"The upstream refuses the gateway's client version: {message[:200]}"
            " (the operator must raise upstream.user_agent)",
            kind="upstream_client_outdated",
        )
