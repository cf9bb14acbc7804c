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
``rtok``                    hash account → ``<hashes of the refresh tokens it replaced>|<new one>``:
                            a refresh token Google rotated on some replica, until a new login
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
import logging
import time
import uuid
from contextlib import suppress
from typing import Any

from redis.exceptions import RedisError

from ag2api.accounts.model import Account
from ag2api.accounts.pool import NO_ACCOUNT_HELP, AllCooling, NoRoom
from ag2api.errors import NoAvailableAccount
from ag2api.redact import mask
from ag2api.state.base import Grant, account_key
from ag2api.state.redis.client import (
    StateUnavailable,
    _Down,
    _pairs,
    _text,
    redact_url,
    token_digest,
)
from ag2api.state.redis.tokens import RedisTokens

log = logging.getLogger("ag2api.state")

LEADER_SECONDS = 15.0

__all__ = ["RedisState", "StateUnavailable", "redact_url", "token_digest"]


class RedisState(RedisTokens):
    """The live account state on Redis: picking accounts and slots, cooldowns, disables, and the
    background work (leader, leases, the local mirror); tokens are ``RedisTokens``'."""

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

    async def claim_writer(self) -> bool:
        """Become the leader if none is elected (a replica stopping last drains the counters)."""
        with suppress(_Down):
            await self._lead()
        return self.is_writer()

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
            for acct, rotation in list(self._unshared_rotations.items()):
                await self._share_rotation(acct, rotation)
                if self._unshared_rotations.get(acct) is rotation:  # none came meanwhile
                    del self._unshared_rotations[acct]
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
                keys=[self.k("dis"), self.k("models"), self.k("rtok")], args=[self.prefix]
            )
        )
        server_now = int(res[0])
        local_now = time.time()
        disables = _pairs(res[1])
        rotated = _pairs(res[2])
        cooling: dict[str, dict[str, dict[str, Any]]] = {}
        for item in res[3:]:
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
            if acct in rotated:
                await self._adopt_refresh_token(account, acct, rotated[acct])
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
        if self.is_writer():
            # A project gone from tokens.json takes its rotated refresh token with it.
            known = {account_key(a.project_id) for a in self.pool.accounts}
            for gone, value in rotated.items():
                if gone not in known:
                    await self._drop_rotation(gone, value)

    async def _adopt_refresh_token(self, account: Account, acct: str, entry: str) -> None:
        """A refresh token rotated on some replica replaces the one it replaced here (then the
        leader's writer records it for tokens.json). When the leader's account holds neither (a
        new login since: its file is the one kept up to date), the entry is void and removed;
        another replica may just be reading an older copy of the file."""
        replaced, _, new = entry.partition("|")
        if not new or new == account.refresh_token:
            return
        if token_digest(account.refresh_token) in replaced.split(","):
            account.refresh_token = new
            self._changed(account, refresh_token=new)
        elif self.is_writer():
            await self._drop_rotation(acct, entry)

    async def _forget_disable(self, acct: str) -> None:
        await self._call(lambda: self.redis.hdel(self.k("dis"), acct))

    def _changed(self, account: Account, **fields: Any) -> None:
        self.on_change(account, fields)


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
