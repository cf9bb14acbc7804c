"""A Redis that stalls (SIGSTOP) and comes back leaves no slot, key lease or probe held."""

from __future__ import annotations

import asyncio

from ag2api.accounts.pool import AccountPool
from ag2api.accounts.slots import SlotLimiter
from ag2api.config.schema import KeyPolicy
from ag2api.state.redis.state import RedisState
from tests.support.accounts import accounts
from tests.support.redis_server import RedisServer

MODEL = "gemini-2.5-flash"


def stalling(server: RedisServer, prefix: str, per_account: int) -> RedisState:
    pool = AccountPool(accounts(1), 1)
    # A sub-second timeout: the stall only has to outlast it.
    return RedisState(pool, SlotLimiter(per_account, 10), server.url, prefix=prefix, timeout=0.3)


async def test_a_stall_leaves_no_slot_held(own_redis: RedisServer, key_prefix: str) -> None:
    state = stalling(own_redis, key_prefix, per_account=2)
    try:
        await state.sync_once()
        state.release(await state.pick(MODEL), ok=True)  # the pick script is loaded
        await state.settle()
        held = await state.pick(MODEL)  # a slot held in Redis when it stalls
        own_redis.pause()
        try:
            lost = await state.pick(MODEL)  # sent, unanswered: served from the local state
            assert not state.health().ok
            state.release(held, ok=True)
            state.release(lost, ok=True)
            await state.settle()
        finally:
            own_redis.resume()
        await state.sync_once()  # Redis answers again
        assert state.health().ok
        both = [await state.pick(MODEL), await state.pick(MODEL)]  # both slots are free
        for grant in both:
            state.release(grant, ok=True)
    finally:
        await state.aclose()


async def test_a_stall_leaves_no_key_lease_held(own_redis: RedisServer, key_prefix: str) -> None:
    state = stalling(own_redis, key_prefix, per_account=1)
    policy = KeyPolicy(max_concurrent=1)
    day, month = "2026-12-01", "2026-12"
    try:
        await state.sync_once()
        first = await state.key_admit("k1", policy, day, month)
        assert first.lease is not None
        await state.key_release("k1", first.lease)
        held = await state.key_admit("k2", policy, day, month)  # in Redis when it stalls
        assert held.lease is not None
        own_redis.pause()
        try:
            lost = await state.key_admit("k1", policy, day, month)  # sent, unanswered
            assert not state.health().ok and lost.lease is not None
            await state.key_release("k1", lost.lease)
            await state.key_release("k2", held.lease)
        finally:
            own_redis.resume()
        await state.sync_once()
        assert state.health().ok
        for ident in ("k1", "k2"):
            assert (await state.key_admit(ident, policy, day, month)).reason is None
    finally:
        await state.aclose()


async def test_a_probe_lost_in_a_stall_does_not_block_the_next(
    own_redis: RedisServer, key_prefix: str
) -> None:
    state = stalling(own_redis, key_prefix, per_account=2)
    try:
        await state.sync_once()
        state.release(await state.pick(MODEL), ok=True)  # the pick script is loaded
        alpha = state.accounts()[0]
        state.cool(alpha, MODEL, 0.001, "QUOTA_EXHAUSTED", probe=True)
        await state.settle()
        await asyncio.sleep(0.01)  # the 1 ms cooldown passes: the next pick probes
        own_redis.pause()
        try:
            lost = await state.pick(MODEL)  # the probe starts in Redis, its answer is lost
            assert lost.probe and not state.health().ok
            state.release(lost, ok=False)
            await state.settle()
        finally:
            own_redis.resume()
        await state.sync_once()
        again = await state.pick(MODEL)  # not "one probe is in flight" for a minute
        assert again.probe
        state.release(again, ok=True)
    finally:
        await state.aclose()
