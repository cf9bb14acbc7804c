"""Live account state behind one async interface, and its in-process (memory) backend.

The dispatcher, the refresher and the handlers ask an :class:`AccountState` — pick an account,
cool it, disable it, share an access token, take the refresh lock, hold a slot, read a snapshot —
instead of reading and mutating :class:`Account` objects. tokens.json stays the owner of the
accounts; a backend holds only runtime overlays (cooldowns, disables, tokens, slots, records).

:class:`MemoryState` is the single-process behaviour (the :class:`AccountPool` rotation and the
:class:`SlotLimiter`); ``ag2api.state.redis.state.RedisState`` shares the same facts between
replicas and falls back to this one when Redis cannot answer.

Writes that callers make from synchronous code (``cool``, ``disable``, ``release``) change the
local view at once; a shared backend sends them on in the background (:meth:`settle` waits).
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ag2api.accounts.model import Account
from ag2api.accounts.pool import AccountPool, Pick
from ag2api.accounts.slots import SlotLimiter
from ag2api.keys.limiter import Admission, KeyUse, MemoryLimiter

if TYPE_CHECKING:
    from ag2api.accounts.writer import TokenWriter
    from ag2api.config.schema import GatewayConfig, KeyPolicy


def account_key(project_id: str) -> str:
    """The id of an account in shared keys: a hash, never a token, email or project id."""
    return "acct_" + hashlib.sha256(b"ag2api:" + project_id.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Cooling:
    model: str
    until: float  # epoch seconds
    reason: str | None
    probe: bool = False


@dataclass(frozen=True)
class AccountView:
    project_id: str
    email: str | None
    enabled: bool
    disabled_reason: str | None
    uses: int
    last_used_at: float | None
    in_flight: int
    cooling: tuple[Cooling, ...]


@dataclass(frozen=True)
class BackendHealth:
    backend: str
    ok: bool
    last_error: str | None = None
    last_error_at: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {"backend": self.backend, "ok": self.ok, "last_error": self.last_error}


@dataclass(frozen=True)
class StateSnapshot:
    """What /health, /admin and the metrics show, read in one go."""

    accounts: tuple[AccountView, ...]
    in_flight: int
    health: BackendHealth

    @property
    def enabled(self) -> int:
        return sum(1 for a in self.accounts if a.enabled)

    @property
    def disabled(self) -> int:
        return len(self.accounts) - self.enabled


# Records (Claude thinking blocks) kept in process at most; the oldest go first.
MAX_RECORDS = 50_000


@dataclass(eq=False)
class Grant:
    """An account picked for one upstream call, with the slot it holds."""

    account: Account
    model: str
    probe: bool
    lease_id: str = ""
    shared: bool = False  # the slot (and probe) is also held in the shared backend
    cooldowns_changed: bool = False  # expired cooldowns were dropped while picking
    released: bool = field(default=False)


class AccountState:
    """The contract; :class:`MemoryState` implements it in process."""

    backend = "memory"

    def __init__(self, pool: AccountPool, slots: SlotLimiter) -> None:
        self.pool = pool
        self.slots = slots
        self._inflight_refresh: dict[str, asyncio.Lock] = {}
        self._records: dict[tuple[str, str], tuple[float, str]] = {}
        self._usage: dict[tuple[str, str, str], dict[str, int]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self.limiter = MemoryLimiter()

    # -- lifecycle ----------------------------------------------------------------------
    async def start(self) -> None:
        pass

    async def settle(self) -> None:
        """Wait until background writes to the shared backend are done."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    def spawn(self, work: Awaitable[Any]) -> None:
        """Run ``work`` in the background (awaited by :meth:`settle` and on close)."""
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def aclose(self) -> None:
        await self.settle()

    def health(self) -> BackendHealth:
        return BackendHealth(self.backend, True)

    # -- accounts -----------------------------------------------------------------------
    def accounts(self) -> tuple[Account, ...]:
        return self.pool.accounts

    def get(self, project_id: str) -> Account | None:
        return self.pool.get(project_id)

    async def peek(self, exclude: frozenset[str] | set[str] = frozenset()) -> Account | None:
        """An enabled account for housekeeping calls (model list), without taking a turn."""
        return self.pool.peek(exclude)

    def enabled_projects(self) -> list[str]:
        return [a.project_id for a in self.pool.accounts if a.enabled]

    # -- picking and slots --------------------------------------------------------------
    async def pick(self, model: str, exclude: frozenset[str] | set[str] = frozenset()) -> Grant:
        """The account whose turn it is, with a slot held; raises NoAvailableAccount,
        AllCooling or NoRoom as :meth:`AccountPool.acquire` does."""
        return self._pick_local(model, exclude)

    def _pick_local(self, model: str, exclude: frozenset[str] | set[str]) -> Grant:
        pick: Pick = self.pool.acquire(model, exclude=exclude, has_room=self.slots.has_room)
        account = pick.account
        forgot = bool(account.cooldowns) and self.pool.forget_expired(account, time.time())
        self.slots.take(account.project_id)
        return Grant(account, model, pick.probe, cooldowns_changed=forgot)

    def release(self, grant: Grant, ok: bool) -> bool:
        """Give the slot back and end a probe; True when the account's cooldowns changed."""
        if grant.released:
            return False
        grant.released = True
        self.slots.give(grant.account.project_id)
        return bool(grant.probe and self.pool.end_probe(grant.account, grant.model, ok))

    async def wait_for_room(self, timeout: float) -> bool:
        return await self.slots.wait_for_room(timeout)

    def in_use(self) -> int:
        return self.slots.in_use

    def has_other(self, model: str, exclude: set[str]) -> bool:
        return self.pool.has_other(model, exclude, self.slots.has_room)

    def earliest_recovery(self, model: str) -> float | None:
        return self.pool.earliest_recovery(model, time.time())

    # -- cooldowns and disables ---------------------------------------------------------
    def cooling_until(self, account: Account, model: str) -> float | None:
        return self.pool.cooling_until(account, model, time.time())

    def cool(
        self, account: Account, model: str, seconds: float, reason: str, probe: bool = False
    ) -> bool:
        """Keep ``account`` off ``model`` for ``seconds``; a cooldown is only ever extended.
        True when it changed."""
        return self._cool_local(account, model, time.time() + seconds, reason, probe)

    def _cool_local(
        self, account: Account, model: str, until: float, reason: str, probe: bool
    ) -> bool:
        entry = account.cooldowns.get(model)
        old = entry.get("until") if isinstance(entry, dict) else None
        if isinstance(old, int | float) and old >= round(until, 3):
            return False
        self.pool.cool(account, model, until, reason, probe=probe)
        return True

    def disable(self, account: Account, reason: str) -> bool:
        """Take ``account`` out of rotation with ``reason``; False when it already was."""
        return self.pool.disable(account, reason)

    # -- access tokens and the refresh lock ---------------------------------------------
    async def token(self, account: Account, cached_ok: bool = True) -> tuple[str, float] | None:
        """The current access token and its expiry (epoch seconds), if one is known; with
        ``cached_ok`` false a shared backend is asked even when the local copy looks fresh."""
        if account.access_token:
            return account.access_token, account.expires_at
        return None

    async def store_token(self, account: Account, token: str, expires_at: float) -> None:
        account.access_token, account.expires_at = token, expires_at

    async def store_refresh_token(self, account: Account, previous: str) -> None:
        """A refresh answered with a new refresh token (``account`` holds it; ``previous`` was
        replaced). One process: the refresher's callback has recorded it for tokens.json."""

    @asynccontextmanager
    async def refresh_lock(self, account: Account) -> AsyncIterator[None]:
        """Held around one token refresh of ``account``; others wait for it, then re-read
        :meth:`token`."""
        lock = self._inflight_refresh.setdefault(account.project_id, asyncio.Lock())
        async with lock:
            yield

    # -- records (thinking signatures, stored responses) --------------------------------
    async def remember(self, kind: str, key: str, value: str, ttl: float) -> None:
        now = time.monotonic()
        records, name = self._records, (kind, _digest(key))
        records.pop(name, None)
        records[name] = (now + ttl, value)
        # Oldest first (insertion order): drop expired ones and keep the count bounded, without
        # scanning every record on each call (this runs per answered tool call).
        while records:
            first, (expiry, _) = next(iter(records.items()))
            if expiry > now and len(records) <= MAX_RECORDS:
                break
            del records[first]

    async def recall(self, kind: str, key: str) -> str | None:
        entry = self._records.get((kind, _digest(key)))
        return entry[1] if entry and entry[0] > time.monotonic() else None

    # -- usage counters -----------------------------------------------------------------
    async def count_usage(self, key: str, model: str, day: str, counts: dict[str, int]) -> None:
        row = self._usage.setdefault((key, model, day), {})
        for name, value in counts.items():
            row[name] = row.get(name, 0) + value

    async def usage(self, key: str, model: str, day: str) -> dict[str, int]:
        return dict(self._usage.get((key, model, day), {}))

    # -- per-key limits (ag2api/keys/policies.py) ----------------------------------------------
    async def key_admit(self, ident: str, policy: KeyPolicy, day: str, month: str) -> Admission:
        """Check a key's limits and, when they allow it, count the request and hold a
        concurrency lease (``Admission.lease``) — one atomic step."""
        return self.limiter.admit(ident, policy, day, month)

    async def key_release(self, ident: str, lease: str) -> None:
        """Give back a lease taken by :meth:`key_admit`."""
        self.limiter.release(ident, lease)

    async def key_charge(self, ident: str, tokens: int, day: str, month: str) -> None:
        """Add an answer's tokens to the key's minute window and day and month budgets."""
        self.limiter.charge(ident, tokens, day, month)

    async def key_use(self, ident: str, day: str, month: str, tpm: int | None = None) -> KeyUse:
        """A key's current use, without counting anything (``tpm``: for the tokens' reset)."""
        return self.limiter.use(ident, day, month, tpm)

    # -- the read-only view -------------------------------------------------------------
    def snapshot(self) -> StateSnapshot:
        now = time.time()
        views = []
        for a in self.pool.accounts:
            cooling = tuple(
                Cooling(model, float(entry["until"]), entry.get("reason"), bool(entry.get("probe")))
                for model, entry in sorted(a.cooldowns.items())
                if self.pool.cooling_until(a, model, now) is not None
            )
            views.append(
                AccountView(
                    a.project_id,
                    a.email,
                    a.enabled,
                    a.disabled_reason,
                    a.uses,
                    a.last_used_at,
                    self.slots.used_by(a.project_id),
                    cooling,
                )
            )
        return StateSnapshot(tuple(views), self.slots.in_use, self.health())


class MemoryState(AccountState):
    """Today's single-process behaviour (the default ``state.backend: memory``)."""


def make_state(
    cfg: GatewayConfig, pool: AccountPool, slots: SlotLimiter, writer: TokenWriter
) -> AccountState:
    """The backend ``state.backend`` names; with Redis only the elected leader writes
    runtime changes to tokens.json (the others' are in Redis, and the leader mirrors them)."""
    sc = cfg.state
    if sc.backend != "redis" or not sc.redis_url:
        return MemoryState(pool, slots)
    from ag2api.state.redis.state import RedisState  # redis is needed only here

    state = RedisState(
        pool,
        slots,
        sc.redis_url,
        prefix=sc.key_prefix,
        timeout=sc.timeout,
        lease_seconds=sc.lease_seconds,
        sync_seconds=sc.sync_seconds,
    )
    writer.gate = state.is_writer
    state.on_change = lambda account, fields: writer.record(account.project_id, **fields)
    state.start_soon()
    return state


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()
