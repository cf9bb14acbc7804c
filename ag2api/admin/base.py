"""The base of every operator endpoint: who is calling, and whether a write may go ahead.

The admin key (``admin_key`` in the config, distinct from client keys) is taken as a Bearer token
by scripts, and by the console through a login form that opens a server-side session (a random
token in an HttpOnly, Secure, SameSite=Strict cookie; see ``admin.sessions``). Wrong keys are
throttled per client address (``admin.throttle``). With no admin key configured, /admin does not
exist.

A write made with the session cookie must also carry the session's CSRF token in
``X-CSRF-Token`` (the console reads it from its page), and a browser that says the request comes
from another site (``Sec-Fetch-Site``) is refused: the cookie alone never changes anything. A
Bearer key is not sent by browsers on their own, so it needs neither.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from ag2api.admin.access import AdminAccess
from ag2api.admin.client_address import client_address
from ag2api.errors import AuthenticationError, GatewayError, NotFound
from ag2api.handlers.base import ApiHandler
from ag2api.keys.auth import presented_key

log = logging.getLogger("ag2api.admin")

COOKIE = "ag2api_admin"
CSRF_HEADER = "X-CSRF-Token"
WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
T = TypeVar("T")
# How long a write waits for the running gateway to apply it (its reload takes about a second).
APPLY_WAIT = 3.0


@dataclass(frozen=True)
class Caller:
    """Who made an admin request, as the write log names them (never a secret)."""

    session: str | None  # the session cookie (None: the admin key as a Bearer token)

    @property
    def name(self) -> str:
        if self.session is None:
            return "admin key"
        return "session " + hashlib.sha256(self.session.encode()).hexdigest()[:8]


class AdminHandler(ApiHandler):
    auth_required = False  # the admin key, not a client key

    @property
    def access(self) -> AdminAccess:
        return self.settings["admin"]

    def prepare(self) -> None:
        super().prepare()
        if not self.cfg.admin_key and self.request.method != "OPTIONS":
            raise NotFound("Admin endpoints are off: set admin_key in the config.")

    def caller(self) -> Caller | None:
        """A signed-in session, or the admin key as a Bearer token (a guess: throttled)."""
        key = self.cfg.admin_key
        if not key:
            return None
        cookie = self.get_cookie(COOKIE)
        if cookie and self.access.sessions.valid(cookie, key, self.cfg.admin.session_lifetime):
            return Caller(cookie)
        given = presented_key(self.request.headers)
        if given is None:
            return None
        wait = self.guess_wait()
        if wait is not None:
            raise GatewayError(
                "Too many wrong admin keys from this address; retry later.",
                kind="rate_limit_exceeded",
                retry_after=wait,
            )
        return Caller(None) if self.check_key(given, key) else None

    def is_admin(self) -> bool:
        return self.caller() is not None

    def guess_wait(self) -> float | None:
        """Seconds before this client's next key is checked, or None: it may try now."""
        admin = self.cfg.admin
        return self.access.throttle.wait(
            self.client_address(), admin.login_max_failures, admin.login_window
        )

    def client_address(self) -> str:
        """Who is guessing: the connection's address, or behind ``server.trusted_proxies`` the
        client they forwarded."""
        return client_address(
            self.request.remote_ip,
            self.request.headers.get_list("X-Forwarded-For"),
            self.cfg.server.trusted_proxies,
        )

    def check_key(self, given: str, key: str) -> bool:
        """The constant-time comparison; a failure counts against the client's address."""
        throttle, address = self.access.throttle, self.client_address()
        if hmac.compare_digest(given.encode(), key.encode()):
            throttle.succeeded(address)
            return True
        throttle.failed(address, self.cfg.admin.login_max_failures)
        if (wait := self.guess_wait()) is not None:  # that failure reached the limit
            log.warning("too many wrong admin keys from %s: refused for %.0fs", address, wait)
        return False

    def require_admin(self) -> Caller:
        caller = self.caller()
        if caller is None:
            raise AuthenticationError("The admin key is required ('Authorization: Bearer <key>').")
        if self.request.method in WRITES and caller.session is not None:
            self.check_csrf(caller.session)
        return caller

    def check_csrf(self, session: str) -> None:
        site = self.request.headers.get("Sec-Fetch-Site")
        if site is not None and site != "same-origin":
            raise GatewayError(
                f"A write to the admin API from another site ({site}) is refused.",
                kind="forbidden",
            )
        given = self.request.headers.get(CSRF_HEADER, "")
        if not self.access.sessions.csrf_matches(session, given):
            raise GatewayError(
                f"This write needs the session's CSRF token in {CSRF_HEADER} (reload the "
                "console), or the admin key as a Bearer token.",
                kind="forbidden",
            )

    async def blocking(self, fn: Callable[..., T], *args: Any) -> T:
        """File writes and Google calls run off the event loop."""
        return await asyncio.get_running_loop().run_in_executor(None, fn, *args)

    async def settled(self, check: Callable[[], bool], timeout: float = APPLY_WAIT) -> bool:
        """Whether ``check()`` holds within ``timeout`` (a file edit reaching the live state
        through the watcher, which has no event to await from here)."""
        deadline = asyncio.get_running_loop().time() + timeout
        while not check():
            if asyncio.get_running_loop().time() >= deadline:
                return False
            await asyncio.sleep(0.05)
        return True

    def csrf_token(self) -> str | None:
        """The token the console's page hands its scripts (None: not signed in by cookie)."""
        cookie = self.get_cookie(COOKIE)
        return self.access.sessions.csrf_token(cookie) if cookie else None
