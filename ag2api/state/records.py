"""Records kept beside the account state: stored Responses API answers and the Claude thinking
blocks the replicas share.

Stored responses serve ``previous_response_id`` and ``GET``/``DELETE /v1/responses/{id}``.
:class:`MemoryResponseStore` keeps them in this process: serialized (an exact size, and no caller
can change a stored record), each for ``responses.store_ttl`` seconds, the oldest dropped first
once ``responses.store_max_bytes`` is exceeded; lost on restart (Codex does not need them:
``store: false``, reasoning carried in ``encrypted_content``). :class:`SharedResponseStore` keeps
them where every replica sees them. A stored response belongs to the client key that made it,
named by :func:`owner_of`.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, Protocol

from ag2api import jsoncodec
from ag2api.config.schema import ApiKey, ResponsesConfig


def owner_of(key: ApiKey | None) -> str | None:
    """Who a stored response belongs to: the key's hash, which stays with the key whatever its
    place in the list or its label (None: keyless access)."""
    return key.ident if key is not None else None


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
        self._settings = settings  # read on each use: a config reload applies at once
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


class SharedUnavailable(Exception):
    """The shared backend is not answering (callers fall back to what this process has)."""


class SharedBlobs(Protocol):
    """Opaque values every replica sees, each for a time."""

    async def put_blob(self, name: str, value: bytes, ttl: float) -> bool:
        """Keep ``value`` under ``name`` for ``ttl`` seconds; False when not answering."""

    async def get_blob(self, name: str) -> bytes | None:
        """The value (None when unknown or expired); raises SharedUnavailable."""

    async def delete_blob(self, name: str) -> bool:
        """Whether a value was deleted; raises SharedUnavailable."""


class SharedResponseStore:
    """Stored responses every replica sees, with this process's copy as the fallback while the
    backend does not answer. ``store_max_bytes`` bounds the local copy and the size of one
    record; the backend bounds the rest (Redis: its ``maxmemory``, docs/operations.md "Scaling
    out")."""

    def __init__(self, shared: SharedBlobs, settings: Callable[[], ResponsesConfig]) -> None:
        self._shared = shared
        self._settings = settings
        self.local = MemoryResponseStore(settings)

    async def get(self, response_id: str) -> dict[str, Any] | None:
        try:
            raw = await self._shared.get_blob(response_id)
        except SharedUnavailable:
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
        except SharedUnavailable:
            return here


class SharedRecords(Protocol):
    """Small records one replica leaves for the others (Claude thinking blocks by tool-call id:
    the replica that answered remembers them, any replica may get the next turn)."""

    def share(self, kind: str, key: str, record: dict[str, str], ttl: float) -> None:
        """Leave ``record`` for the other replicas, in the background, for ``ttl`` seconds."""

    async def fetch(self, kind: str, key: str) -> dict[str, str] | None:
        """A record some replica shared (None when there is none, or no answer)."""


class Unshared:
    """One process has no other replica: nothing to leave, nothing to find (what it made is
    in its own caches)."""

    def share(self, kind: str, key: str, record: dict[str, str], ttl: float) -> None:
        pass

    async def fetch(self, kind: str, key: str) -> dict[str, str] | None:
        return None
