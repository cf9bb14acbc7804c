"""The live account state shared through Redis (``state.backend: redis``): one class that holds
its parts — the client, picking, tokens, key limits, records, usage counters, leadership and the
mirror — and the memory backend as the local view they fall back to, and runs the background
work (leadership, renewals, the mirror, recovery) every ``state.sync_seconds``."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager, suppress
from dataclasses import replace
from pathlib import Path
from typing import Any

from ag2api.accounts.crypto import PLAINTEXT, TokenCipher
from ag2api.accounts.ledger import SHARED_FIELDS
from ag2api.accounts.model import Account
from ag2api.accounts.pool import AccountPool
from ag2api.accounts.slots import SlotLimiter
from ag2api.accounts.writer import TokenWriter
from ag2api.config.schema import KeyPolicy, ResponsesConfig
from ag2api.keys.limiter import Admission, KeyUse
from ag2api.state.base import (
    ROTATE,
    BackendHealth,
    Grant,
    Routing,
    SharedKeys,
    StateSnapshot,
)
from ag2api.state.memory import MemoryState
from ag2api.state.records import ResponseStore, SharedResponseStore
from ag2api.state.redis.accounts_sync import AccountSync
from ag2api.state.redis.client import Down, RedisClient
from ag2api.state.redis.keylimits import KeyLimits
from ag2api.state.redis.keys_sync import KeySync
from ag2api.state.redis.leader import Leadership
from ag2api.state.redis.mirror import Mirror, OnChange
from ag2api.state.redis.picking import Picking
from ag2api.state.redis.records import RedisRecords
from ag2api.state.redis.tokens import Tokens
from ag2api.state.redis.usage import UsageCounters

log = logging.getLogger("ag2api.state")
STOP_WAIT = 15.0  # the sync loops' round under way: Redis round trips and file locks are bounded


class RedisState:
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
        on_change: OnChange = lambda account, fields: None,
        cipher: TokenCipher = PLAINTEXT,
        writer: TokenWriter | None = None,
        host: str | None = None,
        tombstone_seconds: float = 30 * 86400.0,
        config_path: Path | None = None,
    ) -> None:
        self.pool = pool
        self.slots = slots
        self.local = MemoryState(pool, slots)
        self.sync_seconds = sync_seconds
        self.client = RedisClient(url, prefix, timeout, self.local.spawn, self._ensure_loop)
        # state.lease_seconds: how long a slot hold and a key's concurrency lease live unrenewed.
        self.ttl_ms = int(lease_seconds * 1000)
        replica = replica or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.leadership = Leadership(self.client, replica)
        self.picking = Picking(self.client, self.local, self.ttl_ms)
        self.tokens = Tokens(self.client, self.local, self.leadership.is_writer, cipher)
        self.key_limits = KeyLimits(self.client, self.local.limiter, self.ttl_ms)
        self.records = RedisRecords(self.client)
        self.usage_counters = UsageCounters(self.client, self.leadership)
        # The lists hosts share go through connections of their own: background rounds never
        # hold one a request is waiting for.
        self.sync_client = RedisClient(url, prefix, timeout, self.local.spawn, quiet=True)
        # The account list shared between hosts: this host's tokens.json, merged by its writer.
        self.accounts_sync: AccountSync | None = None
        if writer is not None:
            self.accounts_sync = AccountSync(
                self.sync_client,
                writer,
                cipher,
                host or socket.gethostname(),
                interval=sync_seconds,
                tombstone_seconds=tombstone_seconds,
                is_leader=self.leadership.is_writer,
                pool_empty=lambda: not pool.accounts,
            )
            writer.shared = self.accounts_sync
            # Shared fields reach tokens.json through the account sync, versioned where they
            # changed: a mirrored copy of another host's change is not this host's change.
            on_change = _without_shared(on_change)
        # Client keys made in the console, shared with the other hosts' gateway.yaml.
        self.keys_sync: KeySync | None = None
        if config_path is not None:
            self.keys_sync = KeySync(
                self.sync_client, config_path, host or socket.gethostname(), sync_seconds
            )
        self.shared_keys: SharedKeys | None = self.keys_sync
        # A mirrored change to an account (the tokens.json writer records it when leader).
        self.mirror = Mirror(self.client, pool, self.picking, self.tokens, on_change)
        self._loop_task: asyncio.Task[None] | None = None
        self._sync_tasks: list[asyncio.Task[None]] = []
        self._closing = False

    # -- lifecycle ----------------------------------------------------------------------
    async def start(self, catch_up: float = 10.0) -> None:
        """Start the background work; with hosts sharing accounts, wait (at most ``catch_up``
        seconds) for the first merge of the shared account list, so a host that starts late
        serves what the others changed meanwhile."""
        self._ensure_loop()
        rounds = [s.first_round.wait() for s in (self.accounts_sync, self.keys_sync) if s]
        if rounds:
            with suppress(TimeoutError):
                await asyncio.wait_for(asyncio.gather(*rounds), catch_up)

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
            for sync in (self.accounts_sync, self.keys_sync):
                if sync is not None:
                    self._sync_tasks.append(asyncio.ensure_future(sync.run()))

    async def settle(self) -> None:
        self.picking.flush()  # slots given back and cooldowns reach Redis now, not with a pick
        await self.local.settle()

    def spawn(self, work: Awaitable[Any]) -> None:
        self.local.spawn(work)

    async def aclose(self) -> None:
        self._closing = True
        await self.settle()
        for sync in (self.accounts_sync, self.keys_sync):
            if sync is not None:
                sync.stop()
        if self._sync_tasks:  # a round under way ends (each step is bounded)
            await asyncio.wait(self._sync_tasks, timeout=STOP_WAIT)
        for task in (self._loop_task, *self._sync_tasks):
            if task is not None:
                task.cancel()
                with suppress(asyncio.CancelledError, Exception):
                    await task
        await self.leadership.step_down()
        await self.client.aclose()
        await self.sync_client.aclose()

    def health(self) -> BackendHealth:
        return self.client.health()

    def snapshot(self) -> StateSnapshot:
        sharing = self.accounts_sync.status() if self.accounts_sync is not None else None
        keys = self.keys_sync
        if sharing is not None and keys is not None and (keys.held or keys.last_error):
            sharing = replace(
                sharing,
                keys_held=tuple(sorted(keys.held.items())),
                last_error=sharing.last_error or keys.last_error,
            )
        return replace(self.local.snapshot(), health=self.health(), sharing=sharing)

    def is_writer(self) -> bool:
        """Whether this replica may write runtime changes to tokens.json (the leader)."""
        return self.leadership.is_writer()

    # -- the background work ------------------------------------------------------------
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
        back = not self.client.ok
        if not await self.client.recover():
            self.leadership.lapse()
            return
        try:
            if back:
                with suppress(Down):
                    await self.mirror.push_local()
            await self.leadership.lead()
            await self._renew()
            await self.mirror.read()
        except Down:
            self.leadership.lapse()

    async def _renew(self) -> None:
        # This replica's slot holds and key leases, both given ttl_ms more.
        renewing = self.picking.renewals() + self.key_limits.renewals()
        if not renewing:
            return
        keys = [key for key, _ in renewing]
        args: list[str | int] = [self.ttl_ms, *[member for _, member in renewing]]
        script = self.client.scripts["renew"]
        await self.client.bounded(lambda: script(keys=keys, args=args))

    # -- accounts, picking and slots ----------------------------------------------------
    def accounts(self) -> tuple[Account, ...]:
        return self.local.accounts()

    def get(self, project_id: str) -> Account | None:
        return self.local.get(project_id)

    async def peek(self, exclude: frozenset[str] | set[str] = frozenset()) -> Account | None:
        return await self.picking.peek(exclude)

    def enabled_projects(self) -> list[str]:
        return self.local.enabled_projects()

    async def pick(
        self,
        model: str,
        exclude: frozenset[str] | set[str] = frozenset(),
        routing: Routing = ROTATE,
    ) -> Grant:
        return await self.picking.pick(model, exclude, routing)

    def release(self, grant: Grant, ok: bool) -> bool:
        return self.picking.release(grant, ok)

    async def wait_for_room(self, timeout: float) -> bool:
        return await self.picking.wait_for_room(timeout)

    def in_use(self) -> int:
        return self.local.in_use()

    def has_other(self, model: str, exclude: set[str]) -> bool:
        return self.local.has_other(model, exclude)

    def earliest_recovery(self, model: str) -> float | None:
        return self.local.earliest_recovery(model)

    # -- cooldowns and disables ---------------------------------------------------------
    def cooling_until(self, account: Account, model: str) -> float | None:
        return self.local.cooling_until(account, model)

    def cool(
        self, account: Account, model: str, seconds: float, reason: str, probe: bool = False
    ) -> bool:
        return self.picking.cool(account, model, seconds, reason, probe)

    def disable(self, account: Account, reason: str) -> bool:
        return self.picking.disable(account, reason)

    def enable(self, account: Account) -> bool:
        return self.picking.enable(account)

    def change_reason(self, account: Account, reason: str) -> bool:
        return self.picking.change_reason(account, reason)

    # -- access tokens and the refresh lock ---------------------------------------------
    async def token(self, account: Account, cached_ok: bool = True) -> tuple[str, float] | None:
        return await self.tokens.token(account, cached_ok)

    async def store_token(self, account: Account, token: str, expires_at: float) -> None:
        await self.tokens.store_token(account, token, expires_at)

    async def store_refresh_token(self, account: Account, previous: str) -> None:
        await self.tokens.store_refresh_token(account, previous)

    def refresh_lock(self, account: Account) -> AbstractAsyncContextManager[None]:
        return self.tokens.refresh_lock(account)

    # -- stored responses ---------------------------------------------------------------
    def response_store(self, settings: Callable[[], ResponsesConfig]) -> ResponseStore:
        return SharedResponseStore(self.records, settings)

    # -- per-key limits -----------------------------------------------------------------
    async def key_admit(self, ident: str, policy: KeyPolicy, day: str, month: str) -> Admission:
        return await self.key_limits.admit(ident, policy, day, month)

    async def key_release(self, ident: str, lease: str) -> None:
        await self.key_limits.release(ident, lease)

    async def key_charge(self, ident: str, tokens: int, day: str, month: str) -> None:
        await self.key_limits.charge(ident, tokens, day, month)

    async def key_use(self, ident: str, day: str, month: str, tpm: int | None = None) -> KeyUse:
        return await self.key_limits.use(ident, day, month, tpm)


def _without_shared(on_change: OnChange) -> OnChange:
    def changed(account: Account, fields: dict[str, Any]) -> None:
        rest = {k: v for k, v in fields.items() if k not in SHARED_FIELDS}
        if rest:
            on_change(account, rest)

    return changed
