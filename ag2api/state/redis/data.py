"""Shared data on Redis that is not the account pool: records (thinking signatures), opaque
values (stored Responses answers), usage counters, the replicas' pushed usage statistics and the
per-key limits. Each falls back to the local (memory) state when Redis does not answer."""

from __future__ import annotations

import hashlib
import json
import uuid
from contextlib import suppress

from ag2api.config.schema import KeyPolicy
from ag2api.keys.limiter import DAY_TTL, MONTH_TTL, Admission, KeyUse
from ag2api.keys.limiter import WINDOW as KEY_WINDOW
from ag2api.observe.usage import COLUMNS as USAGE_COLUMNS
from ag2api.state.redis.client import (
    USAGE_DAYS,
    RedisCore,
    StateUnavailable,
    _Down,
    _pairs,
    _text,
)
from ag2api.state.redis.scripts import (
    DRAIN_USAGE,
)


class RedisSharedData(RedisCore):
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

    # -- per-key limits (ag2api/keys/policies.py), pool-wide --------------------------------
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
