"""The replicas' usage statistics (hash ``usage:pending``): every replica pushes its counts, the
leader drains them into its usage_db, so replicas on separate hosts count every request once."""

from __future__ import annotations

import json

from ag2api.observe.usage import COLUMNS, Batch
from ag2api.state.redis.client import Down, RedisClient, pairs
from ag2api.state.redis.leader import Leadership

USAGE_DAYS = 40  # how long pushed counts wait for a leader


class UsageCounters:
    """:class:`ag2api.observe.usage.SharedCounters` on Redis."""

    def __init__(self, client: RedisClient, leadership: Leadership) -> None:
        self.client = client
        self.leadership = leadership

    def is_writer(self) -> bool:
        return self.leadership.is_writer()

    async def claim_writer(self) -> bool:
        return await self.leadership.claim()

    async def push_usage(self, batch: Batch) -> bool:
        """Add a batch of (day, key label, model, project) counters in one MULTI/EXEC; False
        when Redis does not answer (the caller then writes the batch to its own store)."""
        key = self.client.key("usage", "pending")

        async def write() -> None:
            pipe = self.client.redis.pipeline(transaction=True)
            for row, counts in batch.items():
                for column, value in zip(COLUMNS, counts, strict=True):
                    if value:
                        pipe.hincrby(key, json.dumps([*row, column]), value)
            pipe.expire(key, USAGE_DAYS * 86400)
            await pipe.execute()

        try:
            await self.client.bounded(write)
        except Down:
            return False
        return True

    async def drain_usage(self) -> Batch | None:
        """Every pushed counter, read and deleted atomically; None when Redis does not answer."""
        key, script = self.client.key("usage", "pending"), self.client.scripts["drain_usage"]
        try:
            flat = await self.client.bounded(lambda: script(keys=[key]))
        except Down:
            return None
        out: Batch = {}
        for field, value in pairs(flat).items():
            day, label, model, project, column = json.loads(field)
            row = out.setdefault((day, label, model, project), [0] * len(COLUMNS))
            row[COLUMNS.index(column)] += int(value)
        return out
