"""What the operator's side keeps in memory: sign-in sessions, the throttle on admin-key guesses,
the write log, the console's sign-ins in progress, and waiting for an edit to be applied."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field

from ag2api.admin.audit import AuditLog
from ag2api.admin.oauth import SignIns
from ag2api.admin.sessions import AdminSessions
from ag2api.admin.throttle import LoginThrottle
from ag2api.config.live import LiveConfig
from ag2api.config.schema import GatewayConfig


@dataclass
class AdminAccess:
    sessions: AdminSessions = field(default_factory=AdminSessions)
    throttle: LoginThrottle = field(default_factory=LoginThrottle)
    audit: AuditLog = field(default_factory=AuditLog)
    sign_ins: SignIns = field(default_factory=SignIns)
    _waiting: list[tuple[Callable[[GatewayConfig], bool], asyncio.Future[None]]] = field(
        default_factory=list
    )

    def follow(self, config: LiveConfig) -> None:
        """End every session when the admin key changes (even if it is changed back before the
        next request); wake writes waiting for their edit to be applied."""
        config.on_swap(self._config_changed)

    def _config_changed(self, old: GatewayConfig, new: GatewayConfig) -> None:
        if new.admin_key != old.admin_key:
            self.sessions.close_all()
        for applied, waiter in self._waiting:
            if not waiter.done() and applied(new):
                waiter.set_result(None)

    async def applied(
        self, config: LiveConfig, check: Callable[[GatewayConfig], bool], timeout: float
    ) -> bool:
        """Whether the running gateway took a file edit (its reload swapped in a config that
        passes ``check``) within ``timeout`` seconds."""
        if check(config.current):
            return True
        entry = (check, asyncio.get_running_loop().create_future())
        self._waiting.append(entry)
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(entry[1], timeout)
            return entry[1].done()
        finally:
            self._waiting.remove(entry)
