"""The live account state shared through Redis (``state.backend: redis``), 7.0 or later.

Every replica on the same tokens.json computes the same account ids (:func:`account_key`, a
hash: no token, email or project id appears in a key) and keeps a local view (the memory
backend) that it uses when Redis does not answer within ``state.timeout``. Keys, under
``state.key_prefix`` (default ``ag:v1:``):

==========================  =====================================================================
``rot``                     hash ``cur``, ``uses``: the pool-wide rotation turn
``cd:<model>``              zset account → cooldown end (ms, Redis time); ``ZADD`` only extends
``cdm:<model>``             hash account → ``p|reason`` (probe after it) or ``-|reason``
``probing:<model>``         hash account → end of the one half-open probe in flight (ms)
``models``                  set of models with cooldowns (what the local view re-reads)
``slots:<account>``         zset lease id → lease end (ms): per-account slots, pool-wide
``dis``                     hash account → ``<refresh-token hash>|<reason>``: runtime disables
``tok:<account>``           string access token, ``PX`` its remaining life
``lock:refresh:<account>``  the single-flight refresh lock (``SET NX PX``, compare-and-delete)
``leader``                  the replica that writes runtime changes to tokens.json
``rec:<kind>:<sha256>``     records (thinking signatures, stored responses), ``PX``
``use:<sha256>:<day>``      hash ``<model>|<counter>`` → count, 40 days
``usage:pending``           hash ``[day, key label, model, project, column]`` (JSON) → count: the
                            replicas' usage statistics until the leader drains them into its store
``kl:{<key id>}:req``       zset request id → ms: a client key's requests in the last minute
``kl:{<key id>}:tok``       zset ``<id>|<tokens>`` → ms: its tokens in the last minute
``kl:{<key id>}:lease``     zset lease id → expiry (ms): its requests in flight (renewed like
                            ``slots:``)
``kl:{<key id>}:d:<day>``   its tokens that UTC day (``m:<month>``: that month)
==========================  =====================================================================

Times are Redis ``TIME`` inside scripts or relative TTLs, so the replicas' clocks do not matter.
Scripts are run with EVALSHA and loaded again on ``NOSCRIPT`` (a restarted Redis). The scripts
build some key names from arguments, so this needs one Redis (or a primary), not Redis Cluster.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import socket
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from typing import Any, TypeVar

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.commands.core import AsyncScript
from redis.exceptions import RedisError

from ag2api.accounts.model import Account
from ag2api.accounts.pool import NO_ACCOUNT_HELP, AccountPool, AllCooling, NoRoom
from ag2api.accounts.redis_scripts import (
    COOL,
    DRAIN_USAGE,
    KEY_ADMIT,
    KEY_CHARGE,
    KEY_USE,
    LEAD,
    PICK,
    RELEASE,
    RENEW,
    SYNC,
    TOKEN,
    UNLOCK,
)
from ag2api.accounts.slots import SlotLimiter
from ag2api.accounts.state import AccountState, BackendHealth, Grant, account_key
from ag2api.config.schema import KeyPolicy
from ag2api.errors import NoAvailableAccount
from ag2api.observe.usage import COLUMNS as USAGE_COLUMNS
from ag2api.policies import DAY_TTL, MONTH_TTL, Admission, KeyUse
from ag2api.policies import WINDOW as KEY_WINDOW
from ag2api.redact import mask

log = logging.getLogger("ag2api.state")
T = TypeVar("T")

LOCK_SECONDS = 30.0  # longer than a token refresh, shorter than the access-token skew
LEADER_SECONDS = 15.0
# A local access token with more life than this is used without asking Redis (the refresher
# renews five minutes before the end; in the last minute before that, Redis may know a newer one).
LOCAL_TOKEN_SECONDS = 360.0
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


class RedisState(AccountState):
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

    # -- picking and slots --------------------------------------------------------------
    async def pick(self, model: str, exclude: frozenset[str] | set[str] = frozenset()) -> Grant:
        if self.slots.in_use >= self.slots.total:
            raise NoRoom()
        accounts = self.pool.accounts
        if not accounts or not self.ok:
            if not self.ok:
                self.fallbacks += 1
            return self._pick_local(model, exclude)
        by_key = {account_key(a.project_id): a for a in accounts}
        args: list[str | int] = [
            model,
            self.pool.rotation_count,
            self.slots.per_account,
            self.lease_ms,
            uuid.uuid4().hex,
            self.k("slots", ""),
            len(accounts),
        ]
        for key, a in by_key.items():
            args += [key, "1" if a.enabled and a.project_id not in exclude else "0"]
            args.append(token_digest(a.refresh_token))
        keys = [
            self.k("rot"),
            self.k("dis"),
            self.k("cd", model),
            self.k("cdm", model),
            self.k("probing", model),
        ]
        try:
            res = await self._call(lambda: self._scripts["pick"](keys=keys, args=args))
        except _Down:
            return self._pick_local(model, exclude)
        kind = _text(res[0])
        if kind == "full":
            raise NoRoom()
        if kind == "cooling":
            raise AllCooling(max(0.0, int(res[1]) / 1000.0))
        if kind != "ok":
            raise NoAvailableAccount(self._none_left())
        account = by_key[_text(res[1])]
        probe, uses = bool(int(res[2])), int(res[3])
        log.debug(  # one per request: DEBUG, like the memory pool's
            "project %s use %d/%d (pool-wide)",
            mask(account.project_id),
            uses or self.pool.rotation_count,
            self.pool.rotation_count,
        )
        now = time.time()
        account.last_used_at = now
        account.uses += 1
        forgot = bool(account.cooldowns) and self.pool.forget_expired(account, now)
        self.slots.take(account.project_id)
        lease_id = str(args[4])
        self._leases[lease_id] = self.k("slots", _text(res[1]))
        return Grant(account, model, probe, lease_id, shared=True, cooldowns_changed=forgot)

    async def peek(self, exclude: frozenset[str] | set[str] = frozenset()) -> Account | None:
        skip = set(exclude)
        try:
            disables = await self._call(lambda: self.redis.hgetall(self.k("dis")))
        except _Down:
            disables = {}
        for field, value in disables.items():
            acct, overlay = _text(field), _text(value)
            for account in self.pool.accounts:
                if account_key(account.project_id) == acct and overlay.startswith(
                    token_digest(account.refresh_token) + "|"
                ):
                    skip.add(account.project_id)
        return self.pool.peek(skip)

    def _none_left(self) -> str:
        accounts = self.pool.accounts
        if not any(a.enabled for a in accounts):
            return (
                "Every Google account is disabled (see disabled_reason in tokens.json). "
                + NO_ACCOUNT_HELP
            )
        return "No other enabled account is left to try for this request."

    def release(self, grant: Grant, ok: bool) -> bool:
        changed = super().release(grant, ok)
        if grant.shared:
            slots_key = self._leases.pop(grant.lease_id, None)
            if slots_key is not None:
                acct = account_key(grant.account.project_id)
                keys = [
                    slots_key,
                    self.k("probing", grant.model),
                    self.k("cd", grant.model),
                    self.k("cdm", grant.model),
                ]
                args = [grant.lease_id, acct, "1" if grant.probe else "0", "1" if ok else "0"]
                self._spawn(self._call(lambda: self._scripts["release"](keys=keys, args=args)))
        return changed

    async def wait_for_room(self, timeout: float) -> bool:
        # A slot given back on another replica fires no local event: look again shortly.
        await self.slots.wait_for_room(min(timeout, 0.1))
        return True

    # -- cooldowns and disables ---------------------------------------------------------
    def cool(
        self, account: Account, model: str, seconds: float, reason: str, probe: bool = False
    ) -> bool:
        changed = super().cool(account, model, seconds, reason, probe)
        self._spawn(self._cool_shared(account, model, seconds, reason, probe))
        return changed

    async def _cool_shared(
        self, account: Account, model: str, seconds: float, reason: str, probe: bool
    ) -> None:
        keys = [self.k("cd", model), self.k("cdm", model), self.k("probing", model)]
        keys.append(self.k("models"))
        meta = ("p|" if probe else "-|") + reason
        args: list[str | int] = [account_key(account.project_id), int(seconds * 1000), meta, model]
        await self._call(lambda: self._scripts["cool"](keys=keys, args=args))

    def disable(self, account: Account, reason: str) -> bool:
        changed = super().disable(account, reason)
        if changed:
            self._spawn(self._disable_shared(account))
        return changed

    async def _disable_shared(self, account: Account) -> None:
        value = f"{token_digest(account.refresh_token)}|{account.disabled_reason or ''}"
        acct = account_key(account.project_id)
        await self._call(lambda: self.redis.hset(self.k("dis"), acct, value))

    async def enable(self, account: Account) -> None:
        """Clear a runtime disable everywhere (an admin's re-enable)."""
        await self._call(lambda: self.redis.hdel(self.k("dis"), account_key(account.project_id)))

    # -- access tokens and the refresh lock ---------------------------------------------
    async def token(self, account: Account, cached_ok: bool = True) -> tuple[str, float] | None:
        now = time.time()
        if cached_ok and account.access_token and account.expires_at - now > LOCAL_TOKEN_SECONDS:
            return account.access_token, account.expires_at
        key = self.k("tok", account_key(account.project_id))
        try:
            found = await self._call(lambda: self._scripts["token"](keys=[key]))
        except _Down:
            found = None
        if found:
            shared, pttl = _text(found[0]), int(found[1])
            expires = time.time() + pttl / 1000.0
            if shared != account.access_token or expires > account.expires_at + 5:
                account.access_token, account.expires_at = shared, expires
        if account.access_token:
            return account.access_token, account.expires_at
        return None

    async def store_token(self, account: Account, token: str, expires_at: float) -> None:
        await super().store_token(account, token, expires_at)
        ms = int((expires_at - time.time()) * 1000)
        if ms <= 0:
            return
        key = self.k("tok", account_key(account.project_id))
        with suppress(_Down):
            await self._call(lambda: self.redis.set(key, token, px=ms))

    @asynccontextmanager
    async def refresh_lock(self, account: Account) -> AsyncIterator[None]:
        async with super().refresh_lock(account):
            key = self.k("lock", "refresh", account_key(account.project_id))
            me = uuid.uuid4().hex
            held = False
            deadline = time.monotonic() + LOCK_SECONDS
            tok = self.k("tok", account_key(account.project_id))
            try:
                seen = await self._call(lambda: self._scripts["token"](keys=[tok]))
                while time.monotonic() < deadline:
                    held = bool(
                        await self._call(
                            lambda: self.redis.set(key, me, nx=True, px=int(LOCK_SECONDS * 1000))
                        )
                    )
                    if held:
                        break
                    # Another replica is refreshing: no event crosses replicas, so look again
                    # shortly; its new token (read by the caller) ends the wait too.
                    await asyncio.sleep(0.05)
                    now = await self._call(lambda: self._scripts["token"](keys=[tok]))
                    if now and (not seen or _text(now[0]) != _text(seen[0])):
                        break
            except _Down:
                pass
            try:
                yield
            finally:
                if held:
                    self._spawn(self._call(lambda: self._scripts["unlock"](keys=[key], args=[me])))

    # -- records and usage counters -----------------------------------------------------
    async def remember(self, kind: str, key: str, value: str, ttl: float) -> None:
        await super().remember(kind, key, value, ttl)
        rkey = self.k("rec", kind, hashlib.sha256(key.encode()).hexdigest())
        with suppress(_Down):
            await self._call(lambda: self.redis.set(rkey, value, px=int(ttl * 1000)))

    async def recall(self, kind: str, key: str) -> str | None:
        rkey = self.k("rec", kind, hashlib.sha256(key.encode()).hexdigest())
        try:
            value = await self._call(lambda: self.redis.get(rkey))
        except _Down:
            return await super().recall(kind, key)
        return None if value is None else _text(value)

    # -- opaque shared values (stored Responses API answers) ------------------------------
    def _blob_key(self, name: str) -> str:
        return self.k("blob", hashlib.sha256(name.encode()).hexdigest())

    async def put_blob(self, name: str, value: bytes, ttl: float) -> bool:
        """Keep ``value`` under ``name`` for ``ttl`` seconds; False when Redis is not answering."""
        try:
            await self._call(
                lambda: self.redis.set(self._blob_key(name), value, px=max(1, int(ttl * 1000)))
            )
        except _Down:
            return False
        return True

    async def get_blob(self, name: str) -> bytes | None:
        """The value (None when unknown or expired); raises StateUnavailable when Redis is down."""
        try:
            value = await self._call(lambda: self.redis.get(self._blob_key(name)))
        except _Down as exc:
            raise StateUnavailable(self.last_error or "Redis is not answering") from exc
        return None if value is None else (value if isinstance(value, bytes) else value.encode())

    async def delete_blob(self, name: str) -> bool:
        """Whether a value was deleted; raises StateUnavailable when Redis is down."""
        try:
            return bool(await self._call(lambda: self.redis.delete(self._blob_key(name))))
        except _Down as exc:
            raise StateUnavailable(self.last_error or "Redis is not answering") from exc

    def _usage_key(self, key: str, day: str) -> str:
        return self.k("use", hashlib.sha256(key.encode()).hexdigest()[:24], day)

    async def count_usage(self, key: str, model: str, day: str, counts: dict[str, int]) -> None:
        rkey = self._usage_key(key, day)

        async def write() -> None:
            pipe = self.redis.pipeline(transaction=True)
            for name, value in counts.items():
                pipe.hincrby(rkey, f"{model}|{name}", value)
            pipe.expire(rkey, USAGE_DAYS * 86400)
            await pipe.execute()

        try:
            await self._call(write)
        except _Down:
            await super().count_usage(key, model, day, counts)

    async def usage(self, key: str, model: str, day: str) -> dict[str, int]:
        try:
            raw = await self._call(lambda: self.redis.hgetall(self._usage_key(key, day)))
        except _Down:
            return await super().usage(key, model, day)
        out = {}
        for field, value in raw.items():
            m, _, name = _text(field).rpartition("|")
            if m == model:
                out[name] = int(value)
        return out

    # -- usage statistics: every replica pushes, the leader drains into its usage_db -------
    async def push_usage(self, batch: dict[tuple[str, str, str, str], list[int]]) -> bool:
        """Add a batch of (day, key label, model, project) counters in one MULTI/EXEC; False
        when Redis does not answer (the caller then writes the batch to its own store)."""
        key = self.k("usage", "pending")

        async def write() -> None:
            pipe = self.redis.pipeline(transaction=True)
            for row, counts in batch.items():
                for column, value in zip(USAGE_COLUMNS, counts, strict=True):
                    if value:
                        pipe.hincrby(key, json.dumps([*row, column]), value)
            pipe.expire(key, USAGE_DAYS * 86400)
            await pipe.execute()

        try:
            await self._call(write)
        except _Down:
            return False
        return True

    async def drain_usage(self) -> dict[tuple[str, str, str, str], list[int]] | None:
        """Every pushed counter, read and deleted atomically; None when Redis does not answer."""
        if self._drain_usage is None:
            self._drain_usage = self.redis.register_script(DRAIN_USAGE)
        script = self._drain_usage
        try:
            flat = await self._call(lambda: script(keys=[self.k("usage", "pending")]))
        except _Down:
            return None
        out: dict[tuple[str, str, str, str], list[int]] = {}
        for field, value in _pairs(flat).items():
            day, label, model, project, column = json.loads(field)
            row = out.setdefault((day, label, model, project), [0] * len(USAGE_COLUMNS))
            row[USAGE_COLUMNS.index(column)] += int(value)
        return out

    async def claim_writer(self) -> bool:
        """Become the leader if none is elected (a replica stopping last drains the counters)."""
        with suppress(_Down):
            await self._lead()
        return self.is_writer()

    # -- per-key limits (ag2api/policies.py), pool-wide --------------------------------
    def _key_keys(self, ident: str, day: str, month: str) -> list[str]:
        tag = "{" + ident + "}"  # one hash slot per client key
        return [
            self.k("kl", tag, "req"),
            self.k("kl", tag, "tok"),
            self.k("kl", tag, "lease"),
            self.k("kl", tag, "d", day),
            self.k("kl", tag, "m", month),
        ]

    async def key_admit(self, ident: str, policy: KeyPolicy, day: str, month: str) -> Admission:
        keys = self._key_keys(ident, day, month)
        lease = uuid.uuid4().hex
        args: list[str | int] = [
            policy.rpm or 0,
            policy.tpm or 0,
            policy.max_concurrent or 0,
            policy.daily_tokens or 0,
            policy.monthly_tokens or 0,
            lease,
            self.lease_ms,  # renewed while held, like the account slots (a dead replica's lapse)
            int(KEY_WINDOW * 1000),
        ]
        try:
            res = await self._call(lambda: self._scripts["key_admit"](keys=keys, args=args))
        except _Down:
            return await super().key_admit(ident, policy, day, month)
        reason = _text(res[0]) or None
        if reason is None and policy.max_concurrent:
            self._leases[lease] = keys[2]
        return Admission(
            reason=reason,
            retry_after=int(res[1]) / 1000,
            lease=None if reason else lease,
            requests_used=int(res[2]),
            tokens_used=int(res[3]),
            requests_reset=max(0, int(res[4])) / 1000,
            tokens_reset=max(0, int(res[5])) / 1000,
            day_used=int(res[6]),
            month_used=int(res[7]),
        )

    async def key_release(self, ident: str, lease: str) -> None:
        await super().key_release(ident, lease)  # a lease taken while Redis was down
        if self._leases.pop(lease, None) is None:
            return
        tag = "{" + ident + "}"
        with suppress(_Down):
            await self._call(lambda: self.redis.zrem(self.k("kl", tag, "lease"), lease))

    async def key_charge(self, ident: str, tokens: int, day: str, month: str) -> None:
        if tokens <= 0:
            return
        keys = self._key_keys(ident, day, month)
        args: list[str | int] = [
            tokens,
            uuid.uuid4().hex[:12],
            int(KEY_WINDOW * 1000),
            DAY_TTL,
            MONTH_TTL,
        ]
        try:
            await self._call(
                lambda: self._scripts["key_charge"](keys=[keys[1], *keys[3:]], args=args)
            )
        except _Down:
            await super().key_charge(ident, tokens, day, month)

    async def key_use(self, ident: str, day: str, month: str, tpm: int | None = None) -> KeyUse:
        keys = self._key_keys(ident, day, month)
        args = [int(KEY_WINDOW * 1000), tpm or 0]
        try:
            res = await self._call(lambda: self._scripts["key_use"](keys=keys, args=args))
        except _Down:
            return await super().key_use(ident, day, month, tpm)
        n = [int(v) for v in res]
        return KeyUse(n[0], n[1], n[2], n[3], n[4], n[5] / 1000, n[6] / 1000)

    # -- the background work: leader, leases, the local mirror, recovery ----------------
    def is_writer(self) -> bool:
        """Whether this replica may write runtime changes to tokens.json (the leader)."""
        return self.leader and time.monotonic() < self._leader_until

    async def _maintain(self) -> None:
        while not self._closing:
            try:
                await self.sync_once()
            except asyncio.CancelledError:
                raise
            except Exception:  # never let the loop die
                log.exception("state sync failed")
            await asyncio.sleep(self.sync_seconds)

    async def sync_once(self) -> None:
        """One round of background work (the loop runs it every ``sync_seconds``)."""
        if not self.ok:
            try:
                self.round_trips += 1
                await asyncio.wait_for(self.redis.ping(), self.timeout)
            except (RedisError, OSError, TimeoutError) as exc:
                self.last_error = f"{type(exc).__name__}: {exc}"[:300]
                self.last_error_at = time.time()
                self._lose_leadership()
                return
            self.ok = True
            log.warning("Redis at %s answers again: state is shared again", redact_url(self.url))
            await self._push_local()
        try:
            await self._lead()
            await self._renew()
            await self._mirror()
        except _Down:
            self._lose_leadership()
            return
        self.synced.set()
        self.on_sync()

    def _lose_leadership(self) -> None:
        if self.leader and time.monotonic() >= self._leader_until:
            self.leader = False
            self._on_leader_change(self)

    async def _lead(self) -> None:
        ms = int(LEADER_SECONDS * 1000)
        started = time.monotonic()
        won = bool(
            await self._call(
                lambda: self._scripts["lead"](keys=[self.k("leader")], args=[self.replica, ms])
            )
        )
        if won:
            self._leader_until = started + LEADER_SECONDS
        if won != self.leader:
            self.leader = won
            what = "is" if won else "is not"
            log.info("replica %s %s the tokens.json writer", self.replica, what)
            self._on_leader_change(self)

    async def _renew(self) -> None:
        if not self._leases:
            return
        leases = list(self._leases.items())
        keys = [slots_key for _, slots_key in leases]
        args: list[str | int] = [self.lease_ms, *[lease for lease, _ in leases]]
        await self._call(lambda: self._scripts["renew"](keys=keys, args=args))

    async def _push_local(self) -> None:
        """After an outage: what this replica learnt meanwhile goes to Redis (extend-only)."""
        now = time.time()
        try:
            for account in self.pool.accounts:
                for model, entry in list(account.cooldowns.items()):
                    until = entry.get("until") if isinstance(entry, dict) else None
                    if isinstance(until, int | float) and until > now:
                        reason = str(entry.get("reason") or "")
                        probe = bool(entry.get("probe"))
                        await self._cool_shared(account, model, until - now, reason, probe)
                if (
                    not account.enabled
                    and account.disabled_reason
                    and self._runtime_disabled(account)
                ):
                    await self._disable_shared(account)
        except _Down:
            pass

    def _runtime_disabled(self, account: Account) -> bool:
        """Disabled here after the file said enabled (not the file's own flag)."""
        seen = self._first_seen.get(account.project_id)
        return seen is not None and seen[0] == id(account) and seen[1]

    async def _mirror(self) -> None:
        res = await self._call(
            lambda: self._scripts["sync"](
                keys=[self.k("dis"), self.k("models")], args=[self.prefix]
            )
        )
        server_now = int(res[0])
        local_now = time.time()
        disables = _pairs(res[1])
        cooling: dict[str, dict[str, dict[str, Any]]] = {}
        for item in res[2:]:
            model = _text(item[0])
            scores = _pairs(item[1])
            meta = _pairs(item[2])
            for acct, score in scores.items():
                m = meta.get(acct, "-|")
                if float(score) <= server_now and not m.startswith("p"):
                    continue  # over, and no probe due: nothing to mirror
                until = local_now + (float(score) - server_now) / 1000.0
                entry: dict[str, Any] = {"until": round(until, 3), "reason": m[2:]}
                if m.startswith("p"):
                    entry["probe"] = True
                cooling.setdefault(acct, {})[model] = entry
        for account in self.pool.accounts:
            acct = account_key(account.project_id)
            seen = self._first_seen.get(account.project_id)
            if seen is None or seen[0] != id(account):
                if seen is not None and not seen[1] and account.enabled and acct in disables:
                    # The file went from disabled to enabled: a person re-enabled it.
                    await self._forget_disable(acct)
                    disables.pop(acct, None)
                self._first_seen[account.project_id] = (id(account), account.enabled)
            overlay = disables.get(acct)
            if overlay is not None:
                digest, _, reason = overlay.partition("|")
                if digest != token_digest(account.refresh_token):
                    await self._forget_disable(acct)  # a new login: the old verdict is void
                elif account.enabled:
                    self.pool.disable(account, reason or "disabled by another replica")
                    self._changed(account, enabled=False, disabled_reason=account.disabled_reason)
            merged = _merge(account.cooldowns, cooling.get(acct, {}), local_now)
            if merged is not None:
                account.cooldowns = merged
                self._changed(account, cooldowns=dict(merged))

    async def _forget_disable(self, acct: str) -> None:
        await self._call(lambda: self.redis.hdel(self.k("dis"), acct))

    def _changed(self, account: Account, **fields: Any) -> None:
        self.on_change(account, fields)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _pairs(flat: list[Any]) -> dict[str, str]:
    return {_text(flat[i]): _text(flat[i + 1]) for i in range(0, len(flat) - 1, 2)}


def _live(entry: Any, now: float) -> bool:
    until = entry.get("until") if isinstance(entry, dict) else None
    return isinstance(until, int | float) and until > now


def _merge(
    local: dict[str, Any], shared: dict[str, dict[str, Any]], now: float
) -> dict[str, Any] | None:
    """The local cooldowns after a read of the shared ones, or None when nothing changes.

    Extend-only like the shared ones: a live local cooldown Redis does not know yet (its write
    is on the way) is kept; an entry that is over locally and gone from Redis (a probe that
    succeeded on another replica) is dropped; of two, the later end wins.
    """
    out: dict[str, Any] = {m: e for m, e in local.items() if _live(e, now)}
    for model, entry in shared.items():
        mine = out.get(model)
        if mine is None or float(entry["until"]) > float(mine.get("until", 0)) + 0.05:
            out[model] = entry
        elif abs(float(entry["until"]) - float(mine.get("until", 0))) <= 0.05:
            out[model] = {**mine, "probe": True} if entry.get("probe") else mine
    if out.keys() == local.keys() and all(out[m] is local[m] or out[m] == local[m] for m in out):
        return None
    return out
