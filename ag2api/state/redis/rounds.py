"""A background loop of rounds, as both shared lists run theirs: one round at once, then one every
``interval`` seconds or as soon as something wakes it; a failed round is logged, never the end of
the loop."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from contextlib import suppress

log = logging.getLogger("ag2api.state")


class Rounds:
    def __init__(self, tick: Callable[[], Awaitable[object]], interval: float, what: str) -> None:
        self._tick = tick
        self.interval = interval
        self._what = what
        self.first_round = asyncio.Event()  # set once the first round ended, well or not
        self._wake = asyncio.Event()
        self._stopping = False

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        while not self._stopping:
            try:
                await self._tick()
            except asyncio.CancelledError:
                raise
            except Exception:  # never let the loop die
                log.exception("%s failed", self._what)
            finally:
                self.first_round.set()
            self._wake.clear()
            if not self._stopping:
                with suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.interval)

    def stop(self) -> None:
        """The loop ends after the round under way (a cancellation can be lost in a wait that
        ends at the same moment, so it is not what ends it)."""
        self._stopping = True
        self._wake.set()
