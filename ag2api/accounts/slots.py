"""Concurrency slots: at most N upstream calls per account and M overall; waiting is bounded."""

from __future__ import annotations

import asyncio
from collections import Counter


class SlotLimiter:
    def __init__(self, per_account: int, total: int) -> None:
        self.per_account = per_account
        self.total = total
        self._used: Counter[str] = Counter()
        self._in_use = 0
        self._freed = asyncio.Event()
        self._waiting = 0  # callers in wait_for_room

    @property
    def in_use(self) -> int:
        return self._in_use

    def used_by(self, project_id: str) -> int:
        return self._used[project_id]

    def has_room(self, project_id: str) -> bool:
        return self._in_use < self.total and self._used[project_id] < self.per_account

    def take(self, project_id: str) -> None:
        self._used[project_id] += 1
        self._in_use += 1

    def give(self, project_id: str) -> None:
        self._used[project_id] -= 1
        if self._used[project_id] <= 0:
            del self._used[project_id]
        self._in_use -= 1
        if self._waiting:
            # Wake every waiter; each re-checks (and the next give makes a fresh event).
            self._freed.set()
            self._freed = asyncio.Event()

    async def wait_for_room(self, timeout: float) -> bool:
        """Wait until some slot is given back; False after ``timeout``."""
        self._waiting += 1
        try:
            await asyncio.wait_for(self._freed.wait(), timeout)
        except TimeoutError:
            return False
        finally:
            self._waiting -= 1
        return True
