"""Who may use /admin: the sign-in sessions and the throttle on admin-key guesses (in memory)."""

from __future__ import annotations

from dataclasses import dataclass, field

from ag2api.admin.sessions import AdminSessions
from ag2api.admin.throttle import LoginThrottle
from ag2api.config.live import LiveConfig
from ag2api.config.schema import GatewayConfig


@dataclass
class AdminAccess:
    sessions: AdminSessions = field(default_factory=AdminSessions)
    throttle: LoginThrottle = field(default_factory=LoginThrottle)

    def follow(self, config: LiveConfig) -> None:
        """End every session when the admin key changes (even if it is changed back before the
        next request)."""
        config.on_swap(self._config_changed)

    def _config_changed(self, old: GatewayConfig, new: GatewayConfig) -> None:
        if new.admin_key != old.admin_key:
            self.sessions.close_all()
