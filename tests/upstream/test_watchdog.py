"""The transfer watchdog: one timer per transfer, and no limit noticed late."""

from __future__ import annotations

import asyncio

from ag2api.upstream.client import Watchdog


async def expiry(first_byte: float, idle: float, touch: bool) -> tuple[str, float, float]:
    """(which limit, seconds after the start, seconds after the last byte) at expiry."""
    loop = asyncio.get_running_loop()
    expired: asyncio.Future[str] = loop.create_future()
    start = loop.time()
    dog = Watchdog(first_byte, idle, lambda phase, _limit: expired.set_result(phase))
    if touch:
        dog.touch()
    try:
        phase = await asyncio.wait_for(expired, 3.0)
    finally:
        dog.cancel()
    return phase, loop.time() - start, loop.time() - dog.last


async def test_the_first_byte_moves_no_timer() -> None:
    dog = Watchdog(180.0, 120.0, lambda phase, limit: None)
    planned = dog._handle
    for _ in range(3):
        dog.touch()
    assert dog._handle is planned and planned is not None and not planned.cancelled()
    dog.cancel()
    assert planned.cancelled()


async def test_an_idle_limit_shorter_than_the_first_byte_one_is_kept() -> None:
    """Bytes came, then none: the idle limit ends it, long before the first-byte limit would."""
    phase, _, since_last = await expiry(first_byte=30.0, idle=0.05, touch=True)
    assert phase == "idle_chunk" and since_last >= 0.05


async def test_no_first_byte_ends_it_at_the_first_byte_limit() -> None:
    phase, since_start, _ = await expiry(first_byte=0.1, idle=0.05, touch=False)
    assert phase == "first_byte" and since_start >= 0.1
