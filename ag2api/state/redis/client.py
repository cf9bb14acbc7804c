"""The Redis backend's connection: one client, bounded round trips (:class:`Down` when Redis does
not answer within ``state.timeout``, so the caller uses its local view), key names under
``state.key_prefix``, and the work that must reach Redis once it answers again.

A round trip that times out may still run when a stalled Redis wakes up (the command was sent).
What it leaves behind — a slot hold or a key lease taken for a request that was served from the
local view — is undone by the ``if_lost`` work the caller names, sent before this replica uses
Redis again; the same holds for a release that could not be sent.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from contextlib import suppress
from typing import Any, TypeVar

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.commands.core import AsyncScript
from redis.exceptions import NoScriptError, RedisError, ResponseError

from ag2api.state.base import BackendHealth
from ag2api.state.redis.scripts import SCRIPTS
from ag2api.state.redis.sync_scripts import SYNC_SCRIPTS

log = logging.getLogger("ag2api.state")
T = TypeVar("T")
Op = Callable[[], Awaitable[T]]
# A script by its name in SCRIPTS, with its keys and arguments.
ScriptRun = tuple[str, list[str], list[Any]]

# Work kept for a Redis that does not answer; beyond this the oldest goes (its keys expire).
MAX_PENDING = 10_000
FAILURES = (RedisError, OSError, TimeoutError)


class Down(Exception):
    """Redis did not answer; the caller uses the local view."""


def redact_url(url: str) -> str:
    """The Redis URL without its password (for logs and /health)."""
    scheme, sep, rest = url.partition("://")
    _creds, at, host = rest.rpartition("@")
    return f"{scheme}{sep}{'***@' if at else ''}{host}"


@functools.lru_cache(maxsize=1024)  # every pick names every account's
def token_digest(refresh_token: str) -> str:
    """How shared keys name a refresh token (never the token)."""
    return hashlib.sha256(refresh_token.encode()).hexdigest()[:12]


def text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def pairs(flat: list[Any]) -> dict[str, str]:
    """A flat [field, value, …] reply as a dict."""
    return {text(flat[i]): text(flat[i + 1]) for i in range(0, len(flat) - 1, 2)}


class RedisClient:
    """One connection pool, round trips bounded by ``timeout``, and what is owed to Redis."""

    def __init__(
        self,
        url: str,
        prefix: str,
        timeout: float,
        spawn: Callable[[Awaitable[Any]], None],
        on_use: Callable[[], None] = lambda: None,
        quiet: bool = False,
    ) -> None:
        self.url = url
        self.prefix = prefix
        self.timeout = timeout
        self._spawn = spawn
        self._on_use = on_use  # starts the backend's background work on first use
        self.quiet = quiet  # a second client of the same Redis: the first one says it went away
        # A burst waits for one of the connections (at most ``timeout``) instead of failing on
        # "too many connections". No socket timeout: every use is bounded as a whole by bounded()
        # (or recover()), and redis-py wraps each send in a task of its own to time it.
        connections = aioredis.BlockingConnectionPool.from_url(
            url,
            max_connections=64,
            timeout=timeout,
            socket_connect_timeout=timeout,
            retry=Retry(NoBackoff(), 0),  # one bounded try, then the local state
        )
        self.redis: aioredis.Redis = aioredis.Redis(connection_pool=connections)
        self.scripts: dict[str, AsyncScript] = {
            name: self.redis.register_script(body)
            for name, body in {**SCRIPTS, **SYNC_SCRIPTS}.items()
        }
        self.ok = True
        self.last_error: str | None = None
        self.last_error_at: float | None = None
        self._owed: deque[Op[Any]] = deque(maxlen=MAX_PENDING)
        self._loaded = False  # every script loaded (run_scripts)
        self._loading: asyncio.Future[None] | None = None

    def key(self, *parts: str) -> str:
        return self.prefix + ":".join(parts)

    def health(self) -> BackendHealth:
        return BackendHealth("redis", self.ok, self.last_error, self.last_error_at)

    # -- round trips --------------------------------------------------------------------
    async def bounded(self, op: Op[T], *, if_lost: Op[Any] | None = None) -> T:
        """``op()`` within ``timeout``; raises :class:`Down` when Redis does not answer. When
        ``op`` may have run without this replica learning its result (no answer, or the
        caller was cancelled), ``if_lost`` is sent as soon as Redis answers."""
        self._on_use()
        if not self.ok:
            if if_lost is not None:
                self._owed.append(if_lost)
            raise Down()
        try:
            async with asyncio.timeout(self.timeout):  # no task of its own, unlike wait_for
                return await op()
        except FAILURES as exc:
            self._went_down(exc)
            if if_lost is not None:
                self._owed.append(if_lost)
            raise Down() from exc
        except asyncio.CancelledError:
            if if_lost is not None:
                self.send(if_lost)
            raise

    async def run_scripts(self, batch: list[ScriptRun]) -> list[Any]:
        """``(name, keys, args)`` scripts in one round trip (a pipeline, not a transaction), in
        that order, for use inside :meth:`bounded`; any error is raised.

        Every script is loaded before the first batch (and again after an outage): a script
        Redis did not know would fail alone while the ones after it ran, out of order. One it no
        longer knows all the same (restarted or flushed meanwhile) is loaded and sent again."""
        if not self._loaded:
            await self._load_scripts()
        results = await self._pipeline(batch)
        unknown = [i for i, r in enumerate(results) if isinstance(r, NoScriptError)]
        if unknown:
            await self._load_scripts()
            again = await self._pipeline([batch[i] for i in unknown])
            for i, result in zip(unknown, again, strict=True):
                results[i] = result
        for result in results:
            if isinstance(result, Exception):
                raise result
        return results

    async def _load_scripts(self) -> None:
        """Every script, once for all callers: those waiting resume in the order they came, so
        their batches still reach Redis in that order."""
        if self._loading is None:
            self._loading = asyncio.ensure_future(self._load_all())
        loading = self._loading
        try:
            await asyncio.shield(loading)
        finally:
            if self._loading is loading and loading.done():
                self._loading = None

    async def _load_all(self) -> None:
        pipe = self.redis.pipeline(transaction=False)
        for body in SCRIPTS.values():
            pipe.script_load(body)
        await pipe.execute()
        self._loaded = True

    async def _pipeline(self, batch: list[ScriptRun]) -> list[Any]:
        # EVALSHA by hand: a pipeline given Script objects first asks SCRIPT EXISTS (a second
        # round trip each time).
        pipe = self.redis.pipeline(transaction=False)
        for name, keys, args in batch:
            pipe.evalsha(self.scripts[name].sha, len(keys), *keys, *args)
        return list(await pipe.execute(raise_on_error=False))

    def send(self, op: Op[Any], *, if_lost: Op[Any] | None = None) -> None:
        """:meth:`bounded` in the background (a lost answer is the fallback's business)."""

        async def run() -> None:
            with suppress(Down):
                await self.bounded(op, if_lost=if_lost)

        self._spawn(run())

    def _went_down(self, exc: BaseException) -> None:
        self._note(exc)
        if self.ok:
            self.ok = False
            if self.quiet:
                return
            log.error(
                "Redis at %s is not answering (%s): this replica uses its local state until it "
                "returns",
                redact_url(self.url),
                self.last_error,
            )

    def _note(self, exc: BaseException) -> None:
        self.last_error = f"{type(exc).__name__}: {exc}"[:300]
        self.last_error_at = time.time()

    # -- coming back --------------------------------------------------------------------
    async def recover(self) -> bool:
        """While Redis is down: whether it answers again. The work owed to it is sent before
        anything else may use it (a hold left by a lost pick must not refuse a request)."""
        if self.ok:
            return True
        try:
            await asyncio.wait_for(self.redis.ping(), self.timeout)
            self._loaded = False  # a Redis that came back may have lost its scripts
            while self._owed:
                op = self._owed.popleft()
                try:
                    await asyncio.wait_for(op(), self.timeout)
                except ResponseError as exc:  # answered with an error: nothing more to do
                    log.warning("work owed to Redis failed: %s", exc)
                except FAILURES:
                    self._owed.appendleft(op)
                    raise
        except FAILURES as exc:
            self._note(exc)
            return False
        self.ok = True
        if not self.quiet:
            log.warning("Redis at %s answers again: state is shared again", redact_url(self.url))
        return True

    async def aclose(self) -> None:
        await self.redis.aclose()
        await self.redis.connection_pool.disconnect()
