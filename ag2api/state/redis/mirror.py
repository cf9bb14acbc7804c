"""The local view kept in step with Redis: every sync reads the shared disables, cooldowns and
rotated refresh tokens into this replica's accounts (reported through ``on_change``, which the
leader's tokens.json writer records); after an outage, what this replica learnt meanwhile goes
to Redis."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from ag2api.accounts.model import Account
from ag2api.accounts.pool import AccountPool
from ag2api.accounts.standing import recheckable
from ag2api.state.base import account_key
from ag2api.state.redis.client import RedisClient, pairs, text, token_digest
from ag2api.state.redis.picking import ENABLED_MARK, Picking
from ag2api.state.redis.tokens import Tokens

OnChange = Callable[[Account, dict[str, Any]], None]


class Mirror:
    def __init__(
        self,
        client: RedisClient,
        pool: AccountPool,
        picking: Picking,
        tokens: Tokens,
        on_change: OnChange,
    ) -> None:
        self.client = client
        self.pool = pool
        self.picking = picking
        self.tokens = tokens
        self.on_change = on_change
        self._first_seen: dict[str, tuple[int, bool]] = {}  # project → (id(account), enabled)

    async def read(self) -> None:
        """One read of the shared state into the local view (raises Down)."""
        k = self.client.key
        res = await self.picking.run_after_outbox(
            ("sync", [k("dis"), k("models"), k("rtok")], [self.client.prefix])
        )
        local_now = time.time()
        disables, rotated = pairs(res[1]), pairs(res[2])
        cooling = _shared_cooldowns(res[3:], int(res[0]), local_now)
        for account in self.pool.accounts:
            acct = account_key(account.project_id)
            seen = self._first_seen.get(account.project_id)
            if seen is None or seen[0] != id(account):
                if seen is not None and not seen[1] and account.enabled and acct in disables:
                    # The file went from disabled to enabled: a person re-enabled it.
                    await self.picking.forget_disable(acct)
                    disables.pop(acct, None)
                self._first_seen[account.project_id] = (id(account), account.enabled)
            if acct in rotated and await self.tokens.adopt(account, acct, rotated[acct]):
                self.on_change(account, {"refresh_token": account.refresh_token})
            overlay = disables.get(acct)
            if overlay is not None and overlay.startswith(ENABLED_MARK):
                # Back in rotation on some replica: so here, if only a passing cause kept it out.
                digest = overlay[len(ENABLED_MARK) :].partition("|")[0]
                if (
                    digest == token_digest(account.refresh_token)
                    and not account.enabled
                    and recheckable(account.disabled_reason)
                ):
                    self.pool.enable(account)
                    self.on_change(account, {"enabled": True, "disabled_reason": None})
            elif overlay is not None:
                digest, _, reason = overlay.partition("|")
                if digest != token_digest(account.refresh_token):
                    await self.picking.forget_disable(acct)  # a new login: the old verdict is void
                elif account.enabled:
                    self.pool.disable(account, reason or "disabled by another replica")
                    fields = {"enabled": False, "disabled_reason": account.disabled_reason}
                    self.on_change(account, fields)
            merged = merge_cooldowns(account.cooldowns, cooling.get(acct, {}), local_now)
            if merged is not None:
                account.cooldowns = merged
                self.on_change(account, {"cooldowns": dict(merged)})
        if self.tokens.is_writer():
            # A project gone from tokens.json takes its rotated refresh token with it.
            known = {account_key(a.project_id) for a in self.pool.accounts}
            for gone, value in rotated.items():
                if gone not in known:
                    await self.tokens.drop_rotation(gone, value)

    async def push_local(self) -> None:
        """After an outage: rotations, live cooldowns and runtime disables to Redis
        (extend-only; raises Down)."""
        await self.tokens.share_unshared()
        now = time.time()
        for account in self.pool.accounts:
            for model, entry in list(account.cooldowns.items()):
                until = entry.get("until") if isinstance(entry, dict) else None
                if isinstance(until, int | float) and until > now:
                    reason, probe = str(entry.get("reason") or ""), bool(entry.get("probe"))
                    op = self.picking.cool_shared(account, model, until - now, reason, probe)
                    await self.client.bounded(op)
            if not account.enabled and account.disabled_reason and self._runtime_disabled(account):
                await self.client.bounded(self.picking.disable_shared(account))

    def _runtime_disabled(self, account: Account) -> bool:
        """Disabled here after the file said enabled (not the file's own flag)."""
        seen = self._first_seen.get(account.project_id)
        return seen is not None and seen[0] == id(account) and seen[1]


def _shared_cooldowns(
    items: list[Any], server_now: int, local_now: float
) -> dict[str, dict[str, dict[str, Any]]]:
    """account → model → cooldown entry, from the sync script's ``{model, cd, cdm}`` items."""
    cooling: dict[str, dict[str, dict[str, Any]]] = {}
    for item in items:
        model = text(item[0])
        scores = pairs(item[1])
        meta = pairs(item[2])
        for acct, score in scores.items():
            m = meta.get(acct, "-|")
            if float(score) <= server_now and not m.startswith("p"):
                continue  # over, and no probe due: nothing to mirror
            until = local_now + (float(score) - server_now) / 1000.0
            entry: dict[str, Any] = {"until": round(until, 3), "reason": m[2:]}
            if m.startswith("p"):
                entry["probe"] = True
            cooling.setdefault(acct, {})[model] = entry
    return cooling


def _live(entry: Any, now: float) -> bool:
    until = entry.get("until") if isinstance(entry, dict) else None
    return isinstance(until, int | float) and until > now


def merge_cooldowns(
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
