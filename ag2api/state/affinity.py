"""Which account served each conversation's last turn, in this process: bounded (the least
recently used go first beyond :data:`MAX_CONVERSATIONS`) and forgotten ``ttl`` after the last
turn. The Redis backend keeps the same in one hash (``state/redis/picking.py``)."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable

MAX_CONVERSATIONS = 100_000


class Affinity:
    def __init__(
        self, clock: Callable[[], float] = time.time, limit: int = MAX_CONVERSATIONS
    ) -> None:
        self.clock = clock
        self.limit = limit
        self._bound: OrderedDict[str, tuple[str, float]] = OrderedDict()  # → (project, expiry)

    def __len__(self) -> int:
        return len(self._bound)

    def get(self, conversation: str) -> str | None:
        """The project that served the conversation's last turn, while remembered."""
        found = self._bound.get(conversation)
        if found is None:
            return None
        if found[1] <= self.clock():
            del self._bound[conversation]
            return None
        return found[0]

    def bind(self, conversation: str, project_id: str, ttl: float) -> None:
        """The conversation's turn went to ``project_id``: remembered ``ttl`` from now."""
        self._bound[conversation] = (project_id, self.clock() + ttl)
        self._bound.move_to_end(conversation)
        while len(self._bound) > self.limit:
            self._bound.popitem(last=False)
        self._drop_expired()

    def _drop_expired(self, most: int = 8) -> None:
        """A few of the oldest, if over (each bind does this much, so nothing piles up)."""
        now = self.clock()
        for _ in range(most):
            oldest = next(iter(self._bound.items()), None)
            if oldest is None or oldest[1][1] > now:
                return
            del self._bound[oldest[0]]
