"""Per-key limits pool-wide (``kl:{<key id>}:…``): the same rules as the process's
:class:`MemoryLimiter`, as Lua scripts, so every replica shares one count. A client key's
concurrency lease is renewed while its request runs (a dead replica's lapses). While Redis does
not answer, the process's limiter decides."""

from __future__ import annotations

import uuid
from contextlib import suppress
from typing import Any

from ag2api.config.schema import KeyPolicy
from ag2api.keys.limiter import DAY_TTL, MONTH_TTL, Admission, KeyUse, MemoryLimiter
from ag2api.keys.limiter import WINDOW as KEY_WINDOW
from ag2api.state.redis.client import Down, Op, RedisClient, text


class KeyLimits:
    def __init__(self, client: RedisClient, local: MemoryLimiter, lease_ms: int) -> None:
        self.client = client
        self.local = local
        self.lease_ms = lease_ms  # a lease's life unrenewed
        # lease id → its leases key, renewed while its request runs
        self.leases: dict[str, str] = {}

    def _keys(self, ident: str, day: str, month: str) -> list[str]:
        tag = "{" + ident + "}"  # one hash slot per client key
        k = self.client.key
        return [
            k("kl", tag, "req"),
            k("kl", tag, "tok"),
            k("kl", tag, "lease"),
            k("kl", tag, "d", day),
            k("kl", tag, "m", month),
        ]

    async def admit(self, ident: str, policy: KeyPolicy, day: str, month: str) -> Admission:
        keys = self._keys(ident, day, month)
        lease = uuid.uuid4().hex
        args: list[str | int] = [
            policy.rpm or 0,
            policy.tpm or 0,
            policy.max_concurrent or 0,
            policy.daily_tokens or 0,
            policy.monthly_tokens or 0,
            lease,
            self.lease_ms,
            int(KEY_WINDOW * 1000),
        ]
        script = self.client.scripts["key_admit"]
        try:
            res = await self.client.bounded(
                lambda: script(keys=keys, args=args), if_lost=self._forget(keys, lease)
            )
        except Down:
            return self.local.admit(ident, policy, day, month)
        reason = text(res[0]) or None
        if reason is None and policy.max_concurrent:
            self.leases[lease] = keys[2]
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

    def _forget(self, keys: list[str], lease: str) -> Op[Any]:
        """Undo an admission whose answer was lost (the process's limiter counted it)."""
        script = self.client.scripts["key_forget"]
        return lambda: script(keys=[keys[0], keys[2]], args=[lease])

    async def release(self, ident: str, lease: str) -> None:
        self.local.release(ident, lease)  # a lease taken while Redis was down
        key = self.leases.pop(lease, None)
        if key is None:
            return
        redis = self.client.redis
        op = lambda: redis.zrem(key, lease)  # noqa: E731
        with suppress(Down):
            await self.client.bounded(op, if_lost=op)

    def renewals(self) -> list[tuple[str, str]]:
        """(leases key, lease id) of every concurrency lease this replica has taken."""
        return [(key, lease) for lease, key in self.leases.items()]

    async def charge(self, ident: str, tokens: int, day: str, month: str) -> None:
        if tokens <= 0:
            return
        keys = self._keys(ident, day, month)
        args: list[str | int] = [
            tokens,
            uuid.uuid4().hex[:12],
            int(KEY_WINDOW * 1000),
            DAY_TTL,
            MONTH_TTL,
        ]
        script = self.client.scripts["key_charge"]
        try:
            await self.client.bounded(lambda: script(keys=[keys[1], *keys[3:]], args=args))
        except Down:
            self.local.charge(ident, tokens, day, month)

    async def use(self, ident: str, day: str, month: str, tpm: int | None) -> KeyUse:
        keys = self._keys(ident, day, month)
        args = [int(KEY_WINDOW * 1000), tpm or 0]
        script = self.client.scripts["key_use"]
        try:
            res = await self.client.bounded(lambda: script(keys=keys, args=args))
        except Down:
            return self.local.use(ident, day, month, tpm)
        n = [int(v) for v in res]
        return KeyUse(n[0], n[1], n[2], n[3], n[4], n[5] / 1000, n[6] / 1000)
