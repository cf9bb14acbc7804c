"""The conversations one process remembers: bounded, least recently used out first, forgotten
after their time."""

from __future__ import annotations

import time

from ag2api.state.affinity import Affinity
from tests.support.clock import FakeClock


def test_bounded_and_forgotten_after_its_time() -> None:
    clock = FakeClock(now=time.time())
    seen = Affinity(clock, limit=3)
    for name in ("a", "b", "c"):
        seen.bind(name, f"project-{name}", ttl=60)
    assert seen.get("a") == "project-a"  # a turn of "a" keeps it (only bind refreshes order)
    seen.bind("a", "project-a", ttl=60)
    seen.bind("d", "project-d", ttl=60)  # over the limit: the least recently bound goes
    assert len(seen) == 3 and seen.get("b") is None and seen.get("a") == "project-a"
    clock.advance(61)
    assert seen.get("c") is None and seen.get("d") is None
    seen.bind("e", "project-e", ttl=60)  # binding drops expired ones on the way
    assert len(seen) == 1
