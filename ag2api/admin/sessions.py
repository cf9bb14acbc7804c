"""Signed-in admin page sessions: random tokens kept in memory, never derived from the key.

A session ends on logout, after ``admin.session_lifetime`` seconds, and when the admin key it was
opened under stops being the configured one (the config reloads live). Only digests are kept:
of the token (so a lookup reveals nothing through timing) and of the key (salted per process).
A restart ends every session.

Each session has a CSRF token for the console's writes: derived from the session token with the
process's secret salt (nothing more to keep), useless without the cookie it goes with.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

# Only someone holding the admin key opens sessions; past this many the oldest is dropped.
MAX_SESSIONS = 100


@dataclass(frozen=True)
class _Session:
    key_print: bytes
    opened: float


class AdminSessions:
    def __init__(
        self, clock: Callable[[], float] = time.monotonic, limit: int = MAX_SESSIONS
    ) -> None:
        self.clock = clock
        self._limit = limit
        self._salt = secrets.token_bytes(32)
        self._sessions: OrderedDict[bytes, _Session] = OrderedDict()

    def __len__(self) -> int:
        return len(self._sessions)

    def open(self, admin_key: str) -> str:
        """A new session under ``admin_key``; returns the token for the cookie."""
        token = secrets.token_urlsafe(32)
        self._sessions[_digest(token)] = _Session(self._print(admin_key), self.clock())
        while len(self._sessions) > self._limit:
            self._sessions.popitem(last=False)
        return token

    def valid(self, token: str, admin_key: str, lifetime: float) -> bool:
        """Whether ``token`` is an open session under the current key, within ``lifetime``."""
        digest = _digest(token)
        session = self._sessions.get(digest)
        if session is None:
            return False
        fresh = self.clock() - session.opened < lifetime
        if fresh and hmac.compare_digest(session.key_print, self._print(admin_key)):
            return True
        del self._sessions[digest]  # expired or opened under another key: gone for good
        return False

    def close(self, token: str) -> None:
        self._sessions.pop(_digest(token), None)

    def close_all(self) -> None:
        """The admin key changed: nobody signed in under the old one stays signed in (even if the
        key is changed back before their next request)."""
        self._sessions.clear()

    def csrf_token(self, token: str) -> str:
        mac = hmac.new(self._salt, b"csrf:" + token.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()

    def csrf_matches(self, token: str, given: str) -> bool:
        return hmac.compare_digest(self.csrf_token(token).encode(), given.encode())

    def _print(self, admin_key: str) -> bytes:
        return hmac.new(self._salt, admin_key.encode(), hashlib.sha256).digest()


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()
