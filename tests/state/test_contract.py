"""The AccountState contract, run against both backends (memory, and a real redis-server)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from ag2api.accounts.pool import AllCooling, NoRoom
from ag2api.config.schema import ResponsesConfig
from ag2api.errors import NoAvailableAccount
from ag2api.state.base import AccountState
from tests.support.accounts import PROJECTS, accounts
from tests.support.state_backends import MODEL, Factory, ShortCooldowns


def parked_on_a_lock(task: asyncio.Task[Any]) -> bool:
    """Whether ``task`` waits in ``asyncio.Lock.acquire``: its await chain followed down, through
    each ``async with`` on an ``asynccontextmanager`` (whose generator holds the rest)."""
    link: Any = task.get_coro()
    while link is not None:
        frame = getattr(link, "cr_frame", None) or getattr(link, "ag_frame", None)
        if frame is None:
            return False
        if frame.f_code is asyncio.Lock.acquire.__code__:
            return True
        awaited = getattr(link, "cr_await", None) or getattr(link, "ag_await", None)
        if awaited is not None and not hasattr(awaited, "cr_frame"):
            # A generator's asend(), awaited by _AsyncGeneratorContextManager.__aenter__.
            awaited = getattr(frame.f_locals.get("self"), "gen", awaited)
        link = awaited
    return False


async def picks(state: AccountState, n: int, model: str = MODEL) -> list[str]:
    out = []
    for _ in range(n):
        grant = await state.pick(model)
        out.append(grant.account.project_id)
        state.release(grant, ok=True)
    await state.settle()
    return out


async def test_rotation_switches_after_count_uses(factory: Factory) -> None:
    async with factory(rotation=2) as state:
        assert await picks(state, 7) == [
            PROJECTS[0],
            PROJECTS[0],
            PROJECTS[1],
            PROJECTS[1],
            PROJECTS[2],
            PROJECTS[2],
            PROJECTS[0],
        ]


async def test_pick_skips_excluded_accounts(factory: Factory) -> None:
    async with factory() as state:
        grant = await state.pick(MODEL, exclude={PROJECTS[0], PROJECTS[1]})
        assert grant.account.project_id == PROJECTS[2]
        state.release(grant, ok=True)
        with pytest.raises(NoAvailableAccount):
            await state.pick(MODEL, exclude=set(PROJECTS))


async def test_a_cooling_account_is_skipped_for_that_model_only(factory: Factory) -> None:
    async with factory(accounts(2)) as state:
        alpha = state.get(PROJECTS[0])
        assert alpha is not None
        assert state.cool(alpha, MODEL, 100, "QUOTA_EXHAUSTED")
        await state.settle()
        assert set(await picks(state, 3)) == {PROJECTS[1]}
        assert PROJECTS[0] in await picks(state, 2, model="other-model")
        until = state.cooling_until(alpha, MODEL)
        assert until is not None and 95 < until - time.time() <= 100.5


async def test_a_cooldown_is_only_ever_extended(factory: Factory) -> None:
    async with factory(accounts(1)) as state:
        alpha = state.get(PROJECTS[0])
        assert alpha is not None
        assert state.cool(alpha, MODEL, 100, "QUOTA_EXHAUSTED")
        assert not state.cool(alpha, MODEL, 1, "RATE_LIMIT_EXCEEDED")  # would shorten it
        await state.settle()
        with pytest.raises(AllCooling) as caught:
            await state.pick(MODEL)
        assert caught.value.retry_after > 95
        assert state.cool(alpha, MODEL, 200, "QUOTA_EXHAUSTED")
        await state.settle()
        with pytest.raises(AllCooling) as caught:
            await state.pick(MODEL)
        assert caught.value.retry_after > 195
        snap = state.snapshot()
        assert [c.reason for c in snap.accounts[0].cooling] == ["QUOTA_EXHAUSTED"]


async def test_one_half_open_probe_after_a_capped_cooldown(
    factory: Factory, cooldowns: ShortCooldowns
) -> None:
    async with factory(accounts(1), clock=cooldowns.clock) as state:
        alpha = state.get(PROJECTS[0])
        assert alpha is not None
        state.cool(alpha, MODEL, 0.001, "QUOTA_EXHAUSTED", probe=True)
        await state.settle()
        await cooldowns.pass_(state, alpha, 0.001)
        probe = await state.pick(MODEL)
        assert probe.probe
        with pytest.raises(AllCooling):  # the one probe is in flight
            await state.pick(MODEL)
        state.release(probe, ok=True)  # it worked: the cooldown is over
        await state.settle()
        grant = await state.pick(MODEL)
        assert not grant.probe
        state.release(grant, ok=True)


async def test_a_failed_probe_keeps_the_account_waiting_for_the_next(
    factory: Factory, cooldowns: ShortCooldowns
) -> None:
    async with factory(accounts(1), clock=cooldowns.clock) as state:
        alpha = state.get(PROJECTS[0])
        assert alpha is not None
        state.cool(alpha, MODEL, 0.001, "QUOTA_EXHAUSTED", probe=True)
        await state.settle()
        await cooldowns.pass_(state, alpha, 0.001)
        probe = await state.pick(MODEL)
        assert probe.probe
        state.release(probe, ok=False)
        await state.settle()
        again = await state.pick(MODEL)
        assert again.probe  # the next request probes again
        state.release(again, ok=False)


async def test_disable_keeps_the_reason_and_takes_the_account_out(factory: Factory) -> None:
    async with factory(accounts(2)) as state:
        alpha = state.get(PROJECTS[0])
        assert alpha is not None
        assert state.disable(alpha, "token refresh failed: invalid_grant")
        assert not state.disable(alpha, "again")
        await state.settle()
        assert set(await picks(state, 3)) == {PROJECTS[1]}
        snap = state.snapshot()
        assert (snap.enabled, snap.disabled) == (1, 1)
        assert snap.accounts[0].disabled_reason == "token refresh failed: invalid_grant"
        beta = state.get(PROJECTS[1])
        assert beta is not None
        state.disable(beta, "ToS")
        await state.settle()
        with pytest.raises(NoAvailableAccount, match="disabled"):
            await state.pick(MODEL)


async def test_enable_puts_it_back_and_a_reason_can_change_meanwhile(factory: Factory) -> None:
    async with factory(accounts(2)) as state:
        alpha = state.get(PROJECTS[0])
        assert alpha is not None
        assert not state.enable(alpha) and not state.change_reason(alpha, "x")  # it is in
        state.disable(alpha, "PROXY_UNREACHABLE: proxy http://***@p:1 failed")
        assert state.change_reason(alpha, "VALIDATION_REQUIRED: verify")
        assert not state.change_reason(alpha, "VALIDATION_REQUIRED: verify")
        await state.settle()
        assert state.snapshot().accounts[0].disabled_reason == "VALIDATION_REQUIRED: verify"
        assert set(await picks(state, 2)) == {PROJECTS[1]}  # still out
        assert state.enable(alpha) and not state.enable(alpha)
        await state.settle()
        assert alpha.enabled and alpha.disabled_reason is None
        assert set(await picks(state, 4)) == set(PROJECTS[:2])


async def test_slots_per_account_are_limited_and_given_back(factory: Factory) -> None:
    async with factory(accounts(1), per_account=2) as state:
        first, second = await state.pick(MODEL), await state.pick(MODEL)
        assert state.snapshot().in_flight == 2
        with pytest.raises(NoRoom):
            await state.pick(MODEL)
        state.release(first, ok=True)
        state.release(first, ok=True)  # twice is once
        await state.settle()
        third = await state.pick(MODEL)
        for grant in (second, third):
            state.release(grant, ok=True)
        assert state.snapshot().in_flight == 0


async def test_tokens_are_stored_and_read(factory: Factory) -> None:
    async with factory(accounts(1)) as state:
        alpha = state.get(PROJECTS[0])
        assert alpha is not None
        assert await state.token(alpha) is None
        expires = time.time() + 3000
        await state.store_token(alpha, "ya29.one", expires)
        found = await state.token(alpha, cached_ok=False)
        assert found is not None and found[0] == "ya29.one" and abs(found[1] - expires) < 1


async def test_the_refresh_lock_lets_one_holder_in_at_a_time(factory: Factory) -> None:
    async with factory(accounts(1)) as state:
        alpha = state.get(PROJECTS[0])
        assert alpha is not None
        order: list[str] = []
        inside = asyncio.Event()
        leave = asyncio.Event()

        async def first() -> None:
            async with state.refresh_lock(alpha):
                order.append("first in")
                inside.set()
                await leave.wait()
                order.append("first out")

        async def second() -> None:
            await inside.wait()
            async with state.refresh_lock(alpha):
                order.append("second in")

        tasks = [asyncio.ensure_future(first()), asyncio.ensure_future(second())]
        await inside.wait()
        # Until the second waits on the process's lock (both backends take it first), or
        # (wrongly) gets in.
        for _ in range(1000):
            if parked_on_a_lock(tasks[1]) or "second in" in order:
                break
            await asyncio.sleep(0)
        assert order == ["first in"] and parked_on_a_lock(tasks[1])
        leave.set()
        await asyncio.gather(*tasks)
        assert order == ["first in", "first out", "second in"]


async def test_release_is_the_states_and_a_successful_probe_ends_the_cooldown(
    factory: Factory, cooldowns: ShortCooldowns
) -> None:
    async with factory(accounts(1), clock=cooldowns.clock) as state:
        alpha = state.get(PROJECTS[0])
        assert alpha is not None
        state.cool(alpha, MODEL, 0.001, "QUOTA_EXHAUSTED", probe=True)
        await state.settle()
        await cooldowns.pass_(state, alpha, 0.001)
        probe = await state.pick(MODEL)
        assert probe.probe and state.in_use() == 1
        assert state.release(probe, ok=True)  # the cooldown is over: the caller saves that
        assert not state.release(probe, ok=True) and state.in_use() == 0
        assert alpha.cooldowns == {}


async def test_shared_records_reach_the_other_replicas(factory: Factory, backend: str) -> None:
    record = {"text": "thinking", "signature": "sig"}
    async with factory(accounts(1)) as one, factory(accounts(1)) as other:
        one.records.share("thinking", "toolu_1", record, 60)
        await one.settle()
        # One process has no other replica: what it made stays in its own caches.
        expected = record if backend == "redis" else None
        assert await other.records.fetch("thinking", "toolu_1") == expected
        assert await other.records.fetch("thinking", "toolu_2") is None


async def test_stored_responses(factory: Factory, backend: str) -> None:
    settings = ResponsesConfig()
    async with factory(accounts(1)) as one, factory(accounts(1)) as other:
        store, elsewhere = (
            one.response_store(lambda: settings),
            other.response_store(lambda: settings),
        )
        await store.put("resp_1", {"owner": "k", "response": {"id": "resp_1"}})
        assert await store.get("resp_1") == {"owner": "k", "response": {"id": "resp_1"}}
        seen = await elsewhere.get("resp_1")
        assert seen == (await store.get("resp_1") if backend == "redis" else None)
        assert await store.delete("resp_1")
        assert await store.get("resp_1") is None and await elsewhere.get("resp_1") is None


async def test_usage_counters_are_drained_once(factory: Factory) -> None:
    async with factory(accounts(1)) as one, factory(accounts(1)) as other:
        counters = one.usage_counters
        if counters is None:  # each process writes its own usage_db
            assert other.usage_counters is None
            return
        row = ("2026-12-01", "key-1", MODEL, "proj")
        assert await counters.push_usage({row: [1, 10, 5, 0, 0, 1, 0]})
        other_counters = other.usage_counters
        assert other_counters is not None
        assert await other_counters.push_usage({row: [1, 20, 5, 0, 1, 0, 1]})
        assert await counters.drain_usage() == {row: [2, 30, 10, 0, 1, 1, 1]}
        assert await other_counters.drain_usage() == {}
        assert await counters.claim_writer() != await other_counters.claim_writer()


async def test_snapshot_for_health_and_metrics(factory: Factory) -> None:
    async with factory(accounts(2)) as state:
        grant = await state.pick(MODEL)
        beta = state.get(PROJECTS[1])
        assert beta is not None
        state.cool(beta, MODEL, 50, "QUOTA_EXHAUSTED")
        snap = state.snapshot()
        assert snap.in_flight == 1
        assert [a.in_flight for a in snap.accounts] == [1, 0]
        assert [c.model for c in snap.accounts[1].cooling] == [MODEL]
        assert snap.health.ok and snap.health.backend in ("memory", "redis")
        state.release(grant, ok=True)
