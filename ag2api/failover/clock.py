"""The time the failover rules read and wait on: the retry budget, backoffs, short rate limits.

The dispatcher takes a :class:`Clock` so that tests can move time themselves instead of sleeping
through cooldowns and backoffs; the gateway runs on :class:`SystemClock`.
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Epoch seconds."""

    def monotonic(self) -> float:
        """Seconds for measuring spans (a retry budget); never goes back."""

    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    """The process's own clocks and the event loop's sleep."""

    def now(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)
