"""Recent count_tokens answers, kept briefly by request hash."""

from __future__ import annotations

from collections import OrderedDict


class TokenCountCache:
    """Recent count_tokens answers by body hash: Claude Code's VS Code extension sends dozens of
    identical counts at start, and a count does not change within seconds."""

    def __init__(self, ttl: float = 30.0, capacity: int = 1024) -> None:
        self._ttl = ttl
        self._capacity = capacity
        self._items: OrderedDict[bytes, tuple[float, int]] = OrderedDict()

    def get(self, key: bytes, now: float) -> int | None:
        hit = self._items.get(key)
        if hit is None or now - hit[0] > self._ttl:
            return None
        return hit[1]

    def put(self, key: bytes, value: int, now: float) -> None:
        self._items[key] = (now, value)
        self._items.move_to_end(key)
        while len(self._items) > self._capacity:
            self._items.popitem(last=False)
