"""Stored responses for ``previous_response_id`` and ``GET``/``DELETE /v1/responses/{id}``.

:class:`ResponseStore` is the interface (async, records are JSON-able dicts) so a shared backend
(Redis, docs/architecture.md) can implement it; :class:`MemoryResponseStore` keeps them in this
process: serialized (an exact size, and no caller can change a stored record), each for
``responses.store_ttl`` seconds, the oldest dropped first once ``responses.store_max_bytes`` is
exceeded. Lost on restart — Codex does not need it (``store: false``, reasoning carried in
``encrypted_content``).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, Protocol

from ag2api import jsoncodec
from ag2api.config.schema import ResponsesConfig


class ResponseStore(Protocol):
    async def get(self, response_id: str) -> dict[str, Any] | None:
        """The record, or None when unknown or expired."""

    async def put(self, response_id: str, record: dict[str, Any]) -> None: ...

    async def delete(self, response_id: str) -> bool:
        """Whether there was a record to delete."""


class MemoryResponseStore:
    def __init__(
        self,
        settings: Callable[[], ResponsesConfig],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._settings = settings  # read per call: a config reload applies at once
        self._clock = clock
        self._items: OrderedDict[str, tuple[float, bytes]] = OrderedDict()  # id → (expiry, JSON)
        self._bytes = 0

    def __len__(self) -> int:
        return len(self._items)

    @property
    def size(self) -> int:
        return self._bytes

    async def get(self, response_id: str) -> dict[str, Any] | None:
        entry = self._items.get(response_id)
        if entry is None:
            return None
        if entry[0] <= self._clock():
            self._drop(response_id)
            return None
        value = jsoncodec.loads(entry[1])
        return value if isinstance(value, dict) else None

    async def put(self, response_id: str, record: dict[str, Any]) -> None:
        settings = self._settings()
        if settings.store_ttl <= 0:
            return
        raw = jsoncodec.dumps_bytes(record)
        if len(raw) > settings.store_max_bytes:
            return  # larger than the whole store: not kept
        self._drop(response_id)
        self._items[response_id] = (self._clock() + settings.store_ttl, raw)
        self._bytes += len(raw)
        self._evict(settings.store_max_bytes)

    async def delete(self, response_id: str) -> bool:
        return self._drop(response_id)

    def _drop(self, response_id: str) -> bool:
        entry = self._items.pop(response_id, None)
        if entry is None:
            return False
        self._bytes -= len(entry[1])
        return True

    def _evict(self, limit: int) -> None:
        now = self._clock()
        # Insertion order is expiry order while the TTL is unchanged: expired ones lead.
        while self._items:
            oldest, (expiry, _) = next(iter(self._items.items()))
            if expiry > now and self._bytes <= limit:
                break
            self._drop(oldest)


class SharedBlobs(Protocol):
    """What a shared backend offers (``state.redis.state.RedisState``)."""

    async def put_blob(self, name: str, value: bytes, ttl: float) -> bool: ...

    async def get_blob(self, name: str) -> bytes | None: ...

    async def delete_blob(self, name: str) -> bool: ...


class SharedResponseStore:
    """Stored responses every replica sees (Redis), with this process's copy as the fallback
    while the backend does not answer. ``store_max_bytes`` bounds the local copy and the size of
    one record; Redis bounds the rest (its ``maxmemory``, docs/operations.md "Scaling out")."""

    def __init__(
        self,
        shared: SharedBlobs,
        settings: Callable[[], ResponsesConfig],
        unavailable: type[Exception],
    ) -> None:
        self._shared = shared
        self._settings = settings
        self._unavailable = unavailable
        self.local = MemoryResponseStore(settings)

    async def get(self, response_id: str) -> dict[str, Any] | None:
        try:
            raw = await self._shared.get_blob(response_id)
        except self._unavailable:
            return await self.local.get(response_id)
        if raw is None:
            return None  # unknown, expired, or deleted through another replica
        value = jsoncodec.loads(raw)
        return value if isinstance(value, dict) else None

    async def put(self, response_id: str, record: dict[str, Any]) -> None:
        settings = self._settings()
        if settings.store_ttl <= 0:
            return
        await self.local.put(response_id, record)
        raw = jsoncodec.dumps_bytes(record)
        if len(raw) <= settings.store_max_bytes:
            await self._shared.put_blob(response_id, raw, settings.store_ttl)

    async def delete(self, response_id: str) -> bool:
        here = await self.local.delete(response_id)
        try:
            return await self._shared.delete_blob(response_id) or here
        except self._unavailable:
            return here
