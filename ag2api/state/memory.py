"""The live account state of one process (``state.backend: memory``), and the local view a shared
backend falls back to: the :class:`AccountPool` rotation, the :class:`SlotLimiter` and the key
:class:`MemoryLimiter`, all in this process."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from ag2api.accounts.model import Account
from ag2api.accounts.pool import AccountPool, AllCooling, Pick
from ag2api.accounts.slots import SlotLimiter
from ag2api.config.schema import KeyPolicy, ResponsesConfig
from ag2api.keys.limiter import Admission, KeyUse, MemoryLimiter
from ag2api.observe.usage import SharedCounters
from ag2api.state.affinity import Affinity
from ag2api.state.base import (
    ROTATE,
    AccountView,
    BackendHealth,
    Cooling,
    Grant,
    Routing,
    StateSnapshot,
)
from ag2api.state.records import MemoryResponseStore, ResponseStore, SharedRecords, Unshared


class MemoryState:
    """Every fact in this process; nothing is shared."""

    def __init__(self, pool: AccountPool, slots: SlotLimiter) -> None:
        self.pool = pool
        self.slots = slots
        self.limiter = MemoryLimiter()
        self.affinity = Affinity(lambda: pool.clock())
        # Balanced routing's running credit per model and account (smooth weighted round robin).
        self.balance: dict[str, dict[str, float]] = {}
        self.records: SharedRecords = Unshared()
        self.usage_counters: SharedCounters | None = None
        self._refresh_locks: dict[str, asyncio.Lock] = {}
        self._tasks: set[asyncio.Task[Any]] = set()

    # -- lifecycle ----------------------------------------------------------------------
    async def start(self) -> None:
        pass

    async def settle(self) -> None:
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    def spawn(self, work: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def aclose(self) -> None:
        await self.settle()

    def health(self) -> BackendHealth:
        return BackendHealth("memory", True)

    def snapshot(self) -> StateSnapshot:
        now = self.pool.clock()
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
                    a.proxy,
                )
            )
        return StateSnapshot(tuple(views), self.slots.in_use, self.health())

    # -- accounts -----------------------------------------------------------------------
    def accounts(self) -> tuple[Account, ...]:
        return self.pool.accounts

    def get(self, project_id: str) -> Account | None:
        return self.pool.get(project_id)

    async def peek(self, exclude: frozenset[str] | set[str] = frozenset()) -> Account | None:
        return self.pool.peek(exclude)

    def enabled_projects(self) -> list[str]:
        return [a.project_id for a in self.pool.accounts if a.enabled]

    # -- picking and slots --------------------------------------------------------------
    async def pick(
        self,
        model: str,
        exclude: frozenset[str] | set[str] = frozenset(),
        routing: Routing = ROTATE,
    ) -> Grant:
        return self.pick_now(model, exclude, routing)

    def pick_now(
        self, model: str, exclude: frozenset[str] | set[str], routing: Routing = ROTATE
    ) -> Grant:
        """:meth:`pick` without awaiting (the shared backend's fallback)."""
        pool, has_room = self.pool, self.slots.has_room
        conversation = routing.conversation
        bound = self.affinity.get(conversation) if conversation and not routing.fresh else None
        pick: Pick | None = None
        outcome = "new" if conversation else ""
        account = pool.get(bound) if bound else None
        if account is not None:
            standing = pool.standing(account, model, exclude, has_room)
            if standing == "excluded":  # failed this request: cooling or disabled since?
                standing = pool.standing(account, model, frozenset(), has_room)
                standing = "excluded" if standing in ("ready", "probe", "full") else standing
            if standing in ("ready", "probe"):
                pick, outcome = pool.take(account, model, standing == "probe"), "hit"
            else:
                outcome = "detour" if standing in ("excluded", "full") else "moved"
        credits = False
        if pick is None:
            try:
                pick = self._by_strategy(model, exclude, routing)
            except AllCooling:
                pick = self._on_credits(model, exclude, routing, account)
                if pick is None:
                    raise
                credits = True
        chosen = pick.account
        if conversation and outcome != "detour":
            self.affinity.bind(conversation, chosen.project_id, routing.affinity_ttl)
        forgot = bool(chosen.cooldowns) and pool.forget_expired(chosen, pool.clock())
        self.slots.take(chosen.project_id)
        return Grant(
            chosen, model, pick.probe, cooldowns_changed=forgot, credits=credits, affinity=outcome
        )

    def _by_strategy(
        self, model: str, exclude: frozenset[str] | set[str], routing: Routing
    ) -> Pick:
        pool, has_room = self.pool, self.slots.has_room
        if routing.strategy == "fill":
            return pool.acquire(model, exclude, has_room, order=pool.accounts)
        if routing.strategy == "balanced":
            return self._balanced(model, exclude, routing)
        return pool.acquire(model, exclude, has_room)

    def _balanced(self, model: str, exclude: frozenset[str] | set[str], routing: Routing) -> Pick:
        """Smooth weighted round robin over the accounts that can serve, each weighted by its
        quota left (unknown: full): each pick adds every one's weight to its credit and takes
        the highest (ties: the rotation), which then gives back the weights' sum — so accounts
        serve in proportion to what they have left, and a burst never lands on one of them."""
        pool, has_room = self.pool, self.slots.has_room
        order = pool.rotation_order()
        ready = []
        for account in order:
            standing = pool.standing(account, model, exclude, has_room)
            if standing in ("ready", "probe"):
                ready.append((account, standing))
        if not ready:
            return pool.acquire(model, exclude, has_room, order=order)  # says why
        credit = self.balance.setdefault(model, {})
        total = 0.0
        for account, _ in ready:
            weight = max(0.01, routing.remaining.get(account.project_id, 1.0))
            credit[account.project_id] = credit.get(account.project_id, 0.0) + weight
            total += weight
        account, standing = max(ready, key=lambda pair: credit[pair[0].project_id])
        credit[account.project_id] -= total
        pool.turn_after(account)
        return pool.take(account, model, standing == "probe")

    def _on_credits(
        self,
        model: str,
        exclude: frozenset[str] | set[str],
        routing: Routing,
        bound: Account | None,
    ) -> Pick | None:
        """An account whose free quota for ``model`` is used up but whose credits may serve
        it (the conversation's own first)."""
        pool = self.pool
        for account in [*([bound] if bound else []), *pool.accounts]:
            if (
                account.project_id in routing.credits
                and account.enabled
                and account.project_id not in exclude
                and pool.out_of_quota(account, model)
                and self.slots.has_room(account.project_id)
            ):
                return pool.take(account, model, False)
        return None

    def release(self, grant: Grant, ok: bool) -> bool:
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
        return self.pool.earliest_recovery(model, self.pool.clock())

    # -- cooldowns and disables ---------------------------------------------------------
    def cooling_until(self, account: Account, model: str) -> float | None:
        return self.pool.cooling_until(account, model, self.pool.clock())

    def cool(
        self, account: Account, model: str, seconds: float, reason: str, probe: bool = False
    ) -> bool:
        until = self.pool.clock() + seconds
        entry = account.cooldowns.get(model)
        old = entry.get("until") if isinstance(entry, dict) else None
        if isinstance(old, int | float) and old >= round(until, 3):
            return False
        self.pool.cool(account, model, until, reason, probe=probe)
        return True

    def disable(self, account: Account, reason: str) -> bool:
        return self.pool.disable(account, reason)

    def enable(self, account: Account) -> bool:
        return self.pool.enable(account)

    def change_reason(self, account: Account, reason: str) -> bool:
        return self.pool.change_reason(account, reason)

    # -- access tokens and the refresh lock ---------------------------------------------
    async def token(self, account: Account, cached_ok: bool = True) -> tuple[str, float] | None:
        if account.access_token:
            return account.access_token, account.expires_at
        return None

    async def store_token(self, account: Account, token: str, expires_at: float) -> None:
        account.access_token, account.expires_at = token, expires_at

    async def store_refresh_token(self, account: Account, previous: str) -> None:
        """One process: the refresher's callback has recorded it for tokens.json."""

    @asynccontextmanager
    async def refresh_lock(self, account: Account) -> AsyncIterator[None]:
        lock = self._refresh_locks.setdefault(account.project_id, asyncio.Lock())
        async with lock:
            yield

    # -- stored responses ---------------------------------------------------------------
    def response_store(self, settings: Callable[[], ResponsesConfig]) -> ResponseStore:
        return MemoryResponseStore(settings)

    # -- per-key limits -----------------------------------------------------------------
    async def key_admit(self, ident: str, policy: KeyPolicy, day: str, month: str) -> Admission:
        return self.limiter.admit(ident, policy, day, month)

    async def key_release(self, ident: str, lease: str) -> None:
        self.limiter.release(ident, lease)

    async def key_charge(self, ident: str, tokens: int, day: str, month: str) -> None:
        self.limiter.charge(ident, tokens, day, month)

    async def key_use(self, ident: str, day: str, month: str, tpm: int | None = None) -> KeyUse:
        return self.limiter.use(ident, day, month, tpm)
