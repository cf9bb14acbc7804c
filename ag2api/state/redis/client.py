"""The Redis backend's plumbing: one client, one bounded call (``_Down`` when Redis does not
answer, so the caller uses its local view), key names under ``state.key_prefix``, the lifecycle
and the attributes the backend's parts share. The key layout is documented in
:mod:`ag2api.state.redis.state`."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import socket
import time
import uuid
from collections.abc import Awaitable, Callable
from contextlib import suppress
from dataclasses import dataclass
from typing import Any, TypeVar

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.commands.core import AsyncScript
from redis.exceptions import RedisError

from ag2api.accounts.model import Account
from ag2api.accounts.pool import AccountPool
from ag2api.accounts.slots import SlotLimiter
from ag2api.state.base import AccountState, BackendHealth
from ag2api.state.redis.scripts import (
    COOL,
    HDEL_IF,
    KEY_ADMIT,
    KEY_CHARGE,
    KEY_USE,
    LEAD,
    PICK,
    RELEASE,
    RENEW,
    ROTATE,
    SYNC,
    TOKEN,
    UNLOCK,
)

log = logging.getLogger("ag2api.state")
T = TypeVar("T")

USAGE_DAYS = 40


class _Down(Exception):
    """Redis did not answer; the caller uses the local view."""


class StateUnavailable(Exception):
    """The shared backend is not answering (callers fall back to what this process has)."""


def redact_url(url: str) -> str:
    """The Redis URL without its password (for logs and /health)."""
    scheme, sep, rest = url.partition("://")
    _creds, at, host = rest.rpartition("@")
    return f"{scheme}{sep}{'***@' if at else ''}{host}"


def token_digest(refresh_token: str) -> str:
    return hashlib.sha256(refresh_token.encode()).hexdigest()[:12]


# Digests of replaced refresh tokens kept per rotated one (a chain of rotations between syncs).
ROTATION_HISTORY = 32


@dataclass(frozen=True)
class Rotation:
    """A rotated refresh token: ``first`` the token it replaced first (raw: the stored entry
    whose token it is gets chained), ``replaced`` the digests of all it replaced, oldest first."""

    first: str
    replaced: str
    new: str

    def then(self, previous: str, new: str) -> Rotation:
        """This rotation followed by ``previous`` → ``new`` (chained when ``previous`` is ours)."""
        if previous != self.new:
            return Rotation(previous, token_digest(previous), new)
        digests = [*self.replaced.split(","), token_digest(previous)][-ROTATION_HISTORY:]
        return Rotation(self.first, ",".join(digests), new)


class RedisCore(AccountState):
    """The connection, the bounded call with its fall-back signal, the key names, the lifecycle
    and every attribute of the Redis backend; the behaviour is in its subclasses."""

    backend = "redis"

    def __init__(
        self,
        pool: AccountPool,
        slots: SlotLimiter,
        url: str,
        *,
        prefix: str = "ag:v1:",
        timeout: float = 0.5,
        lease_seconds: float = 60.0,
        sync_seconds: float = 1.0,
        replica: str | None = None,
        on_leader_change: Callable[[AccountState], None] = lambda state: None,
    ) -> None:
        super().__init__(pool, slots)
        self.url = url
        self.prefix = prefix
        self.timeout = timeout
        self.lease_ms = int(lease_seconds * 1000)
        self.sync_seconds = sync_seconds
        self.replica = replica or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        # One client per process; a burst waits for one of its connections (at most ``timeout``)
        # instead of failing on "too many connections".
        connections = aioredis.BlockingConnectionPool.from_url(
            url,
            max_connections=64,
            timeout=timeout,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            retry=Retry(NoBackoff(), 0),  # one bounded try, then the local state
        )
        self.redis: aioredis.Redis = aioredis.Redis(connection_pool=connections)
        self._scripts = {
            name: self.redis.register_script(body)
            for name, body in (
                ("pick", PICK),
                ("cool", COOL),
                ("release", RELEASE),
                ("renew", RENEW),
                ("sync", SYNC),
                ("unlock", UNLOCK),
                ("hdel_if", HDEL_IF),
                ("rotate", ROTATE),
                ("lead", LEAD),
                ("token", TOKEN),
                ("key_admit", KEY_ADMIT),
                ("key_charge", KEY_CHARGE),
                ("key_use", KEY_USE),
            )
        }
        self.ok = True
        self.last_error: str | None = None
        self.last_error_at: float | None = None
        self.fallbacks = 0  # calls answered from the local view because Redis did not
        self.round_trips = 0
        self.leader = False
        self._leader_until = 0.0
        self._on_leader_change = on_leader_change
        self._leases: dict[str, str] = {}  # lease id → slots key, renewed while held
        self._loop_task: asyncio.Task[None] | None = None
        self._closing = False
        self._first_seen: dict[str, tuple[int, bool]] = {}  # project → (id(account), enabled)
        # Rotated refresh tokens Redis did not take (it was down): sent when it answers again.
        self._unshared_rotations: dict[str, Rotation] = {}  # by account key
        self.synced = asyncio.Event()
        self.on_sync: Callable[[], None] = lambda: None
        # A mirrored change to an account (the tokens.json writer records it when leader).
        self.on_change: Callable[[Account, dict[str, Any]], None] = lambda account, fields: None
        self._drain_usage: AsyncScript | None = None  # registered on first use

    # -- lifecycle ----------------------------------------------------------------------
    async def start(self) -> None:
        self._ensure_loop()

    def start_soon(self) -> None:
        """Start the background work now when an event loop runs (else on first use)."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return
        self._ensure_loop()

    def _ensure_loop(self) -> None:
        if self._loop_task is None and not self._closing:
            self._loop_task = asyncio.ensure_future(self._maintain())

    async def aclose(self) -> None:
        self._closing = True
        await self.settle()
        if self._loop_task is not None:
            self._loop_task.cancel()
            with suppress(asyncio.CancelledError, Exception):
                await self._loop_task
        if self.leader:
            with suppress(_Down):
                await self._call(
                    lambda: self._scripts["unlock"](keys=[self.k("leader")], args=[self.replica])
                )
        await self.redis.aclose()
        await self.redis.connection_pool.disconnect()

    def health(self) -> BackendHealth:
        return BackendHealth(self.backend, self.ok, self.last_error, self.last_error_at)

    def k(self, *parts: str) -> str:
        return self.prefix + ":".join(parts)

    # -- one bounded call ---------------------------------------------------------------
    async def _call(self, fn: Callable[[], Awaitable[T]]) -> T:
        self._ensure_loop()
        if not self.ok:
            self.fallbacks += 1
            raise _Down()
        try:
            self.round_trips += 1
            return await asyncio.wait_for(fn(), self.timeout)
        except (RedisError, OSError, TimeoutError) as exc:
            self._went_down(exc)
            raise _Down() from exc

    def _went_down(self, exc: BaseException) -> None:
        self.fallbacks += 1
        self.last_error = f"{type(exc).__name__}: {exc}"[:300]
        self.last_error_at = time.time()
        if self.ok:
            self.ok = False
            log.error(
                "Redis at %s is not answering (%s): this replica uses its local state until it "
                "returns",
                redact_url(self.url),
                self.last_error,
            )

    def _spawn(self, coro: Awaitable[Any]) -> None:
        async def run() -> None:
            with suppress(_Down):
                await coro

        self.spawn(run())

    async def _maintain(self) -> None:
        """The background work (leadership, lease renewal, the mirror): :class:`RedisState`."""
        raise NotImplementedError


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _pairs(flat: list[Any]) -> dict[str, str]:
    return {_text(flat[i]): _text(flat[i + 1]) for i in range(0, len(flat) - 1, 2)}
