"""Picking accounts pool-wide: the rotation turn, slot holds (``slots:<account>``, renewed while
held), half-open probes, cooldowns and runtime disables, through Redis. Each decision changes the
local view (the memory backend) too, and is made there alone while Redis does not answer.

One Redis round trip per request: a slot given back, and a cooldown, are sent with this
replica's next pick, in the same pipeline and before it (in the order they happened, as Redis
must see them), or on their own within ``SEND_WINDOW`` when no pick comes; the local view has
them at once."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from ag2api.accounts.model import Account
from ag2api.accounts.pool import NO_ACCOUNT_HELP, AllCooling, NoRoom
from ag2api.errors import NoAvailableAccount, NoUsableAccount
from ag2api.ids import random_hex
from ag2api.redact import mask
from ag2api.state.affinity import MAX_CONVERSATIONS
from ag2api.state.base import ROTATE, Grant, Routing, account_key
from ag2api.state.memory import MemoryState
from ag2api.state.redis.client import Down, Op, RedisClient, ScriptRun, text, token_digest

log = logging.getLogger("ag2api.state")


# A ``dis`` value of an account put back into rotation (the recheck found its cause gone).
ENABLED_MARK = "+"
# Longest a slot given back or a cooldown waits for a pick to ride with (seconds).
SEND_WINDOW = 0.1


class Picking:
    def __init__(self, client: RedisClient, local: MemoryState, hold_ms: int) -> None:
        self.client = client
        self.local = local
        self.hold_ms = hold_ms
        self.holds: dict[str, str] = {}  # hold id → its slots key, renewed while held
        # Scripts for the next pick to take along, in order: (the script, and what undoes it
        # if its answer is lost — a release's forget — or None).
        self._outbox: list[tuple[ScriptRun, ScriptRun | None]] = []
        self._flush: asyncio.TimerHandle | None = None

    # -- picking and slots --------------------------------------------------------------
    async def pick(
        self, model: str, exclude: frozenset[str] | set[str], routing: Routing = ROTATE
    ) -> Grant:
        slots, pool = self.local.slots, self.local.pool
        if slots.in_use >= slots.total:
            raise NoRoom()
        accounts = pool.accounts
        if not accounts or not self.client.ok:
            return self.local.pick_now(model, exclude, routing)
        by_key = {account_key(a.project_id): a for a in accounts}
        hold = random_hex()
        args: list[str | int] = [
            model,
            pool.rotation_count,
            slots.per_account,
            self.hold_ms,
            hold,
            self.client.key("slots", ""),
            len(accounts),
            routing.strategy,
            routing.conversation or "",
            "1" if routing.fresh else "0",
            max(1, int(routing.affinity_ttl * 1000)),
            MAX_CONVERSATIONS,
        ]
        for key, a in by_key.items():
            usable = "0" if not a.enabled else "x" if a.project_id in exclude else "1"
            left = routing.remaining.get(a.project_id)
            args += [key, usable, token_digest(a.refresh_token)]
            args += ["" if left is None else f"{left:.4f}"]
            args += ["1" if a.project_id in routing.credits else "0"]
        keys = [
            self.client.key("rot"),
            self.client.key("dis"),
            self.client.key("cd", model),
            self.client.key("cdm", model),
            self.client.key("probing", model),
            self.client.key("aff"),
            self.client.key("aff", "t"),
            self.client.key("bal", model),
        ]
        try:
            res = await self.run_after_outbox(
                ("pick", keys, args), if_lost=self._forget(hold, model, list(by_key))
            )
        except Down:
            return self.local.pick_now(model, exclude, routing)
        kind = text(res[0])
        if kind == "full":
            raise NoRoom()
        if kind == "cooling":
            raise AllCooling(max(0.0, int(res[1]) / 1000.0))
        if kind != "ok":
            raise self._none_left()
        account = by_key[text(res[1])]
        probe, uses, credits, outcome = (
            bool(int(res[2])),
            int(res[3]),
            bool(int(res[4])),
            text(res[5]),
        )
        log.debug(  # one per request: DEBUG, like the memory pool's
            "project %s use %d/%d (pool-wide)",
            mask(account.project_id),
            uses or pool.rotation_count,
            pool.rotation_count,
        )
        if routing.conversation and outcome != "detour":  # kept here too, for an outage
            self.local.affinity.bind(routing.conversation, account.project_id, routing.affinity_ttl)
        now = pool.clock()
        account.last_used_at = now
        account.uses += 1
        forgot = bool(account.cooldowns) and pool.forget_expired(account, now)
        slots.take(account.project_id)
        self.holds[hold] = self.client.key("slots", text(res[1]))
        return Grant(
            account,
            model,
            probe,
            hold,
            cooldowns_changed=forgot,
            credits=credits,
            affinity=outcome,
        )

    def _forget(self, hold: str, model: str, accts: list[str]) -> Op[Any]:
        """Undo a pick whose answer was lost: wherever its hold landed, it goes."""
        keys = [*(self.client.key("slots", acct) for acct in accts)]
        keys.append(self.client.key("probing", model))
        script = self.client.scripts["forget"]
        return lambda: script(keys=keys, args=[hold, *accts])

    def release(self, grant: Grant, ok: bool) -> bool:
        changed = self.local.release(grant, ok)
        slots_key = self.holds.pop(grant.hold, None) if grant.hold else None
        if slots_key is not None:
            acct = account_key(grant.account.project_id)
            keys = [
                slots_key,
                self.client.key("probing", grant.model),
                self.client.key("cd", grant.model),
                self.client.key("cdm", grant.model),
            ]
            args = [grant.hold, acct, "1" if grant.probe else "0", "1" if ok else "0"]
            forget: ScriptRun = ("forget", keys[:2], [grant.hold, acct])
            self._send_soon(("release", keys, args), forget)
        return changed

    def _send_soon(self, job: ScriptRun, undo: ScriptRun | None = None) -> None:
        """``job`` with the next pick, or within SEND_WINDOW."""
        self._outbox.append((job, undo))
        if self._flush is None:
            self._flush = asyncio.get_running_loop().call_later(SEND_WINDOW, self.flush)

    async def run_after_outbox(self, job: ScriptRun, if_lost: Op[Any] | None = None) -> Any:
        """``job``'s answer, with what waits in the outbox sent before it in the same round
        trip (a pick, and the sync's read: each must see what this replica did before it)."""
        outbox = self._take_outbox()
        batch = [*(waiting for waiting, _ in outbox), job]
        results = await self.client.bounded(
            lambda: self.client.run_scripts(batch), if_lost=self._owed(outbox, if_lost)
        )
        return results[-1]

    def flush(self) -> None:
        """Send what waits for a pick now (none came to take it along)."""
        outbox = self._take_outbox()
        if outbox:
            batch = [job for job, _ in outbox]
            self.client.send(lambda: self.client.run_scripts(batch), if_lost=self._owed(outbox))

    def _take_outbox(self) -> list[tuple[ScriptRun, ScriptRun | None]]:
        if self._flush is not None:
            self._flush.cancel()
            self._flush = None
        outbox, self._outbox = self._outbox, []
        return outbox

    def _owed(
        self, outbox: list[tuple[ScriptRun, ScriptRun | None]], then: Op[Any] | None = None
    ) -> Op[Any] | None:
        """What undoes a batch whose answer was lost: each release's forget (a hold released
        twice is gone all the same; a cooldown needs nothing), then ``then``."""
        forgets = [undo for _, undo in outbox if undo is not None]
        if not forgets:
            return then

        async def undo() -> None:
            await self.client.run_scripts(forgets)
            if then is not None:
                await then()

        return undo

    def renewals(self) -> list[tuple[str, str]]:
        """(slots key, hold id) of every slot this replica holds."""
        return [(key, hold) for hold, key in self.holds.items()]

    async def wait_for_room(self, timeout: float) -> bool:
        # A slot given back on another replica fires no local event: look again shortly.
        await self.local.slots.wait_for_room(min(timeout, 0.1))
        return True

    async def peek(self, exclude: frozenset[str] | set[str]) -> Account | None:
        skip = set(exclude)
        try:
            disables = await self.client.bounded(lambda: self.client.redis.hgetall(self._dis))
        except Down:
            disables = {}
        for field, value in disables.items():
            acct, overlay = text(field), text(value)
            for account in self.local.pool.accounts:
                if account_key(account.project_id) == acct and overlay.startswith(
                    token_digest(account.refresh_token) + "|"
                ):
                    skip.add(account.project_id)
        return self.local.pool.peek(skip)

    def _none_left(self) -> NoAvailableAccount:
        accounts = self.local.pool.accounts
        if not any(a.enabled for a in accounts):
            return NoUsableAccount(
                (
                    "Every Google account is disabled (see disabled_reason in tokens.json). "
                    if accounts
                    else "No Google account is configured. "
                )
                + NO_ACCOUNT_HELP
            )
        return NoAvailableAccount("No other enabled account is left to try for this request.")

    # -- cooldowns and disables ---------------------------------------------------------
    @property
    def _dis(self) -> str:
        return self.client.key("dis")

    def cool(
        self, account: Account, model: str, seconds: float, reason: str, probe: bool = False
    ) -> bool:
        changed = self.local.cool(account, model, seconds, reason, probe)
        self._send_soon(self._cooling(account, model, seconds, reason, probe))
        return changed

    def cool_shared(
        self, account: Account, model: str, seconds: float, reason: str, probe: bool
    ) -> Op[Any]:
        """The shared half of :meth:`cool` (extend-only, like the local one)."""
        batch = [self._cooling(account, model, seconds, reason, probe)]
        return lambda: self.client.run_scripts(batch)

    def _cooling(
        self, account: Account, model: str, seconds: float, reason: str, probe: bool
    ) -> ScriptRun:
        keys = [self.client.key(name, model) for name in ("cd", "cdm", "probing")]
        keys.append(self.client.key("models"))
        meta = ("p|" if probe else "-|") + reason
        args: list[str | int] = [account_key(account.project_id), int(seconds * 1000), meta, model]
        return ("cool", keys, args)

    def disable(self, account: Account, reason: str) -> bool:
        changed = self.local.disable(account, reason)
        if changed:
            self.client.send(self.disable_shared(account))
        return changed

    def change_reason(self, account: Account, reason: str) -> bool:
        changed = self.local.change_reason(account, reason)
        if changed:
            self.client.send(self.disable_shared(account))
        return changed

    def disable_shared(self, account: Account) -> Op[Any]:
        """The shared half of :meth:`disable`: valid while the account keeps this refresh
        token (a new login voids it)."""
        value = f"{token_digest(account.refresh_token)}|{account.disabled_reason or ''}"
        acct = account_key(account.project_id)
        return lambda: self.client.redis.hset(self._dis, acct, value)

    def enable(self, account: Account) -> bool:
        """Back in rotation everywhere: the disable is replaced by ``+<digest>|``, which picking
        ignores and which tells every replica's mirror to enable its own copy."""
        changed = self.local.enable(account)
        if changed:
            acct = account_key(account.project_id)
            value = f"{ENABLED_MARK}{token_digest(account.refresh_token)}|"
            self.client.send(lambda: self.client.redis.hset(self._dis, acct, value))
        return changed

    async def forget_disable(self, acct: str) -> None:
        await self.client.bounded(lambda: self.client.redis.hdel(self._dis, acct))
