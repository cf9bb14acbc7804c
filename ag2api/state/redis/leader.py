"""The one replica that writes runtime changes to tokens.json and drains the shared usage
counters (key ``leader``, renewed every sync; given up at a graceful stop)."""

from __future__ import annotations

import logging
import time
from contextlib import suppress

from ag2api.state.redis.client import Down, RedisClient

log = logging.getLogger("ag2api.state")

LEADER_SECONDS = 15.0


class Leadership:
    def __init__(self, client: RedisClient, replica: str) -> None:
        self.client = client
        self.replica = replica
        self.leader = False
        self._until = 0.0  # monotonic end of the term won last

    def is_writer(self) -> bool:
        """Whether this replica may write runtime changes to tokens.json (the leader)."""
        return self.leader and time.monotonic() < self._until

    async def lead(self) -> None:
        """Win or renew the term (raises Down)."""
        ms = int(LEADER_SECONDS * 1000)
        started = time.monotonic()
        key, script = self.client.key("leader"), self.client.scripts["lead"]
        won = bool(await self.client.bounded(lambda: script(keys=[key], args=[self.replica, ms])))
        if won:
            self._until = started + LEADER_SECONDS
        if won != self.leader:
            self.leader = won
            what = "is" if won else "is not"
            log.info("replica %s %s the tokens.json writer", self.replica, what)

    def lapse(self) -> None:
        """Redis does not answer: leadership ends with the term."""
        if self.leader and time.monotonic() >= self._until:
            self.leader = False

    async def claim(self) -> bool:
        """Become the leader if none is elected (a replica stopping last drains the counters)."""
        with suppress(Down):
            await self.lead()
        return self.is_writer()

    async def step_down(self) -> None:
        if self.leader:
            key, script = self.client.key("leader"), self.client.scripts["unlock"]
            with suppress(Down):
                await self.client.bounded(lambda: script(keys=[key], args=[self.replica]))
