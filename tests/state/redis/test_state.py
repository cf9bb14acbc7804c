"""What only the shared backend promises, with two RedisStates (two replicas) on one real Redis."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
import redis.asyncio as aioredis

from ag2api.accounts.pool import AccountPool, AllCooling, NoRoom
from ag2api.accounts.slots import SlotLimiter
from ag2api.state.base import account_key
from ag2api.state.redis.client import ScriptRun, redact_url
from ag2api.state.redis.state import RedisState
from tests.support.accounts import PROJECTS, accounts
from tests.support.redis_server import RedisServer

MODEL = "gemini-2.5-flash"


@asynccontextmanager
async def pair(
    url: str, prefix: str, n: int = 2, per_account: int = 8, lease_seconds: float = 60.0
) -> AsyncIterator[tuple[RedisState, RedisState]]:
    states = [
        RedisState(
            AccountPool(accounts(n), 1),
            SlotLimiter(per_account, 100),
            url,
            prefix=prefix,
            timeout=2.0,
            lease_seconds=lease_seconds,
        )
        for _ in range(2)
    ]
    try:
        yield states[0], states[1]
    finally:
        for s in states:
            await s.aclose()


async def test_concurrent_cooldowns_only_extend(redis_server: RedisServer, key_prefix: str) -> None:
    async with pair(redis_server.url, key_prefix, n=1) as (a, b):
        alpha_a, alpha_b = a.pool.accounts[0], b.pool.accounts[0]
        for _ in range(20):  # the long one and many short ones, interleaved
            a.cool(alpha_a, MODEL, 300, "QUOTA_EXHAUSTED")
            b.cool(alpha_b, MODEL, 2, "RATE_LIMIT_EXCEEDED")
        await asyncio.gather(a.settle(), b.settle())
        for s in (a, b):
            with pytest.raises(AllCooling) as caught:
                await s.pick(MODEL)
            assert caught.value.retry_after > 290
        await b.sync_once()
        until = b.cooling_until(alpha_b, MODEL)
        assert until is not None and until - time.time() > 290
        assert b.snapshot().accounts[0].cooling[0].reason == "QUOTA_EXHAUSTED"


async def test_one_half_open_probe_pool_wide(redis_server: RedisServer, key_prefix: str) -> None:
    async with pair(redis_server.url, key_prefix, n=1) as (a, b):
        a.cool(a.pool.accounts[0], MODEL, 0.001, "QUOTA_EXHAUSTED", probe=True)
        await a.settle()
        await asyncio.sleep(0.01)  # the 1 ms cooldown passes
        probe = await a.pick(MODEL)
        assert probe.probe
        with pytest.raises(AllCooling):
            await b.pick(MODEL)  # B sees the probe in flight on A
        a.release(probe, ok=True)
        await a.settle()
        grant = await b.pick(MODEL)
        assert not grant.probe
        b.release(grant, ok=True)


async def test_slot_limits_are_pool_wide(redis_server: RedisServer, key_prefix: str) -> None:
    async with pair(redis_server.url, key_prefix, n=1, per_account=2) as (a, b):
        held = [await a.pick(MODEL), await b.pick(MODEL)]
        for s in (a, b):
            with pytest.raises(NoRoom):
                await s.pick(MODEL)
        a.release(held[0], ok=True)
        await a.settle()
        held[0] = await b.pick(MODEL)
        for grant, s in zip(held, (b, b), strict=True):
            s.release(grant, ok=True)


async def test_one_round_trip_per_request(
    redis_server: RedisServer, key_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The slot a request gives back goes to Redis with the next pick, in one pipeline and
    before it (so a full account has room again); with no pick to ride with, settle() (or
    SEND_WINDOW) sends it, and the other replica sees the slot back."""
    async with pair(redis_server.url, key_prefix, n=1, per_account=1) as (a, b):
        sent: list[list[str]] = []
        pipeline = a.client._pipeline

        async def recording(batch: list[ScriptRun]) -> list[Any]:
            if batch[-1][0] != "sync":  # the background read (also sent after the outbox)
                sent.append([name for name, _, _ in batch])
            return await pipeline(batch)

        monkeypatch.setattr(a.client, "_pipeline", recording)
        grant = await a.pick(MODEL)
        a.release(grant, ok=True)
        a.cool(a.pool.accounts[0], "other-model", 60, "RATE_LIMIT_EXCEEDED")
        grant = await a.pick(MODEL)  # one slot: there only if the release went first
        assert sent == [["pick"], ["release", "cool", "pick"]]
        a.release(grant, ok=True)
        await a.settle()
        assert sent[-1] == ["release"]
        b.release(await b.pick(MODEL), ok=True)  # the other replica has the slot back


async def test_slot_holds_of_a_dead_replica_expire_and_live_ones_are_renewed(
    redis_server: RedisServer, key_prefix: str
) -> None:
    async with pair(redis_server.url, key_prefix, n=1, per_account=1, lease_seconds=0.5) as (a, b):
        a._closing = True  # A's background work stops: as if it died holding the slot
        if a._loop_task is not None:
            a._loop_task.cancel()
        await a.pick(MODEL)
        with pytest.raises(NoRoom):
            await b.pick(MODEL)
        deadline = time.monotonic() + 3
        while True:  # the hold runs out in Redis: nothing to await but Redis' clock
            try:
                live = await b.pick(MODEL)
                break
            except NoRoom:
                assert time.monotonic() < deadline
                await asyncio.sleep(0.05)
        # B is alive: its maintenance renews its hold well past 0.5 s.
        started = time.monotonic()
        while time.monotonic() - started < 1.2:
            await b.sync_once()
            await asyncio.sleep(0.1)
        with pytest.raises(NoRoom):
            await a.pick(MODEL)
        b.release(live, ok=True)


async def test_scripts_survive_a_script_flush(redis_server: RedisServer, key_prefix: str) -> None:
    async with pair(redis_server.url, key_prefix) as (a, _b):
        grant = await a.pick(MODEL)
        a.release(grant, ok=True)
        await a.settle()
        await a.client.redis.script_flush()  # what a restarted Redis looks like (NOSCRIPT)
        grant = await a.pick(MODEL)
        a.release(grant, ok=True)
        await a.settle()
        assert a.health().ok


async def test_a_new_refresh_token_clears_a_runtime_disable(
    redis_server: RedisServer, key_prefix: str
) -> None:
    async with pair(redis_server.url, key_prefix) as (a, b):
        a.disable(a.pool.accounts[0], "token refresh failed: invalid_grant")
        await a.settle()
        await b.sync_once()
        assert not b.pool.accounts[0].enabled
        assert b.pool.accounts[0].disabled_reason == "token refresh failed: invalid_grant"
        # The person logs in again: a new refresh token in tokens.json, read by every replica.
        for s in (a, b):
            s.pool.replace_accounts(accounts(2, tokens=("rt-new", "rt-1")))
        await b.sync_once()
        assert b.pool.accounts[0].enabled
        assert PROJECTS[0] in {(await b.pick(MODEL)).account.project_id for _ in range(2)}
        assert await b.client.redis.hget(b.client.key("dis"), account_key(PROJECTS[0])) is None


async def test_a_reenable_in_the_file_clears_a_runtime_disable(
    redis_server: RedisServer, key_prefix: str
) -> None:
    async with pair(redis_server.url, key_prefix) as (a, _b):
        await a.sync_once()
        a.disable(a.pool.accounts[0], "ToS")
        await a.settle()
        # The leader wrote it to the file; the file is read back (disabled) ...
        disabled = accounts(2)
        disabled[0].enabled, disabled[0].disabled_reason = False, "ToS"
        a.pool.replace_accounts(disabled)
        await a.sync_once()
        assert await a.client.redis.hget(a.client.key("dis"), account_key(PROJECTS[0])) is not None
        # ... and a person sets enabled: true again.
        a.pool.replace_accounts(accounts(2))
        await a.sync_once()
        assert a.pool.accounts[0].enabled
        assert await a.client.redis.hget(a.client.key("dis"), account_key(PROJECTS[0])) is None


async def test_exactly_one_leader(redis_server: RedisServer, key_prefix: str) -> None:
    async with pair(redis_server.url, key_prefix) as (a, b):
        await a.sync_once()
        await b.sync_once()
        assert [a.is_writer(), b.is_writer()] == [True, False]
        await a.aclose()  # a graceful stop hands leadership over at once
        await b.sync_once()
        assert b.is_writer()


async def test_a_slow_redis_is_bounded_and_falls_back(
    redis_server: RedisServer, key_prefix: str
) -> None:
    blocker = aioredis.Redis.from_url(redis_server.url)
    async with pair(redis_server.url, key_prefix) as (a, _b):
        a.client.timeout = 0.2
        await a.sync_once()
        busy = asyncio.ensure_future(blocker.execute_command("DEBUG", "SLEEP", "1"))
        await asyncio.sleep(0.05)  # DEBUG SLEEP has begun (Redis answers nothing meanwhile)
        started = time.monotonic()
        grant = await a.pick(MODEL)  # from the local state
        assert time.monotonic() - started < 0.5
        assert not a.health().ok and "Timeout" in (a.health().last_error or "")
        a.release(grant, ok=True)
        await busy
        await a.sync_once()
        assert a.health().ok
    await blocker.aclose()


def test_redis_urls_are_shown_without_password() -> None:
    assert redact_url("rediss://:s3cret@cache:6380/0") == "rediss://***@cache:6380/0"
    assert redact_url("redis://localhost:6379") == "redis://localhost:6379"
