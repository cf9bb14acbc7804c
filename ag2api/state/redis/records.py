"""Records and opaque values every replica reads: Claude thinking blocks (``rec:<kind>:<sha256>``)
and stored Responses API answers (``blob:<sha256>``), each with its time to live. Names are
hashed: no tool-call or response id appears in a key."""

from __future__ import annotations

import hashlib

from ag2api import jsoncodec
from ag2api.state.records import SharedUnavailable
from ag2api.state.redis.client import Down, RedisClient


def _hashed(name: str) -> str:
    return hashlib.sha256(name.encode()).hexdigest()


class RedisRecords:
    """:class:`ag2api.state.records.SharedRecords` and ``SharedBlobs`` on Redis."""

    def __init__(self, client: RedisClient) -> None:
        self.client = client

    # -- records (thinking blocks) ------------------------------------------------------
    def share(self, kind: str, key: str, record: dict[str, str], ttl: float) -> None:
        name, value = self.client.key("rec", kind, _hashed(key)), jsoncodec.dumps_bytes(record)
        self.client.send(lambda: self.client.redis.set(name, value, px=max(1, int(ttl * 1000))))

    async def fetch(self, kind: str, key: str) -> dict[str, str] | None:
        name = self.client.key("rec", kind, _hashed(key))
        try:
            value = await self.client.bounded(lambda: self.client.redis.get(name))
        except Down:
            return None
        record = jsoncodec.loads(value) if value is not None else None
        return record if isinstance(record, dict) else None

    # -- opaque values (stored responses) -----------------------------------------------
    def _blob(self, name: str) -> str:
        return self.client.key("blob", _hashed(name))

    async def put_blob(self, name: str, value: bytes, ttl: float) -> bool:
        key, px = self._blob(name), max(1, int(ttl * 1000))
        try:
            await self.client.bounded(lambda: self.client.redis.set(key, value, px=px))
        except Down:
            return False
        return True

    async def get_blob(self, name: str) -> bytes | None:
        key = self._blob(name)
        try:
            value = await self.client.bounded(lambda: self.client.redis.get(key))
        except Down as exc:
            raise SharedUnavailable(self.client.last_error or "Redis is not answering") from exc
        return None if value is None else (value if isinstance(value, bytes) else value.encode())

    async def delete_blob(self, name: str) -> bool:
        key = self._blob(name)
        try:
            return bool(await self.client.bounded(lambda: self.client.redis.delete(key)))
        except Down as exc:
            raise SharedUnavailable(self.client.last_error or "Redis is not answering") from exc
