"""A clock the test moves: time passes only when the code under test sleeps on it, or when the test
calls :meth:`FakeClock.advance`. It fits :class:`ag2api.failover.clock.Clock`; code that takes a
bare ``Callable[[], float]`` gets ``clock.monotonic`` (or ``clock.now``)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

EPOCH = 1_800_000_000.0  # an arbitrary "now" in 2027, far from any real expiry


class FakeClock:
    def __init__(self, now: float = EPOCH, monotonic: float = 1000.0) -> None:
        self._now = now
        self._monotonic = monotonic
        self.slept: list[float] = []  # every wait asked for, in order
        # Called with the seconds each advance moves, so that other clocks can follow.
        self.listeners: list[Callable[[float], None]] = []

    def now(self) -> float:
        return self._now

    def __call__(self) -> float:
        """The wall-clock time: code that takes a bare ``Callable[[], float]`` takes the clock."""
        return self._now

    def monotonic(self) -> float:
        return self._monotonic

    async def sleep(self, seconds: float) -> None:
        if seconds > 0:  # tenacity "sleeps" 0 s between attempts that wait for nothing
            self.slept.append(seconds)
            self.advance(seconds)
        await asyncio.sleep(0)  # still a suspension point, as a real sleep is

    def advance(self, seconds: float) -> None:
        """Move both clocks (back too, for code that must not trust them to only go forward)."""
        self._now += seconds
        self._monotonic += seconds
        for listener in self.listeners:
            listener(seconds)

    @property
    def waited(self) -> float:
        return sum(self.slept)
