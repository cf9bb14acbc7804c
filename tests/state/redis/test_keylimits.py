"""Per-key limits across two replicas on one real Redis: one count, no lost updates."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import openai

from ag2api.keys.limiter import periods
from ag2api.testing.fake_upstream import FakeUpstream
from tests.support.clients import ALICE, with_alice
from tests.support.files import update_config
from tests.support.helpers import chat_text
from tests.support.redis_server import RedisServer
from tests.support.replicas import replicas, state_config


def with_policy(
    config_path: Path, url: str, prefix: str, policy: dict[str, Any], timeout: float = 5.0
) -> None:
    # A loaded test machine must not push a replica into its local fallback mid-race (that is
    # the split-brain mode, tested on its own below).
    update_config(config_path, {**state_config(url, prefix, timeout=timeout), **with_alice(policy)})


async def attempt(client: openai.AsyncOpenAI, stream: bool) -> str:
    try:
        await chat_text(client, stream=stream)
        return "ok"
    except openai.RateLimitError as exc:
        return str(exc.code if exc.code != "rate_limit_exceeded" else exc.body["type"])  # type: ignore[index]


async def test_rpm_is_exact_across_racing_replicas(
    fake: FakeUpstream, config_path: Path, redis_server: RedisServer, key_prefix: str
) -> None:
    with_policy(config_path, redis_server.url, key_prefix, {"rpm": 7})
    async with replicas(config_path) as (a, b):
        clients = [a.sdk(ALICE), b.sdk(ALICE)]
        try:
            results = await asyncio.gather(
                *(attempt(clients[i % 2], stream=i % 3 == 0) for i in range(16))
            )
        finally:
            for c in clients:
                await c.close()
        assert a.services.state.health().ok and b.services.state.health().ok
    assert results.count("ok") == 7  # not 7 per replica
    assert results.count("requests") == 9


async def test_tokens_charged_by_racing_replicas_are_all_counted(
    fake: FakeUpstream, config_path: Path, redis_server: RedisServer, key_prefix: str
) -> None:
    with_policy(config_path, redis_server.url, key_prefix, {"daily_tokens": 10**9})
    async with replicas(config_path) as (a, b):
        clients = [a.sdk(ALICE), b.sdk(ALICE)]
        try:
            answers = await asyncio.gather(
                *(
                    clients[i % 2].chat.completions.create(
                        model="gemini-2.5-flash", messages=[{"role": "user", "content": "hi"}]
                    )
                    for i in range(12)
                )
            )
        finally:
            for c in clients:
                await c.close()
        total = sum(x.usage.total_tokens for x in answers if x.usage)
        assert total > 0
        assert a.services.state.health().ok and b.services.state.health().ok
        ident = a.services.config.current.api_keys[1].ident
        for r in (a, b):
            use = await r.services.state.key_use(ident, *periods())
            assert use.day_tokens == use.month_tokens == total  # no update lost


async def test_a_budget_is_not_exceeded_by_two_racing_replicas(
    fake: FakeUpstream, config_path: Path, redis_server: RedisServer, key_prefix: str
) -> None:
    # What one answer costs, through the unlimited key.
    async with replicas(config_path, 1) as (probe,):
        first = await probe.client.chat.completions.create(
            model="gemini-2.5-flash", messages=[{"role": "user", "content": "hi"}]
        )
    assert first.usage is not None
    cost = first.usage.total_tokens
    budget = cost * 5 - 1  # room for exactly 5 answers: the 5th crosses it
    with_policy(
        config_path,
        redis_server.url,
        key_prefix,
        {"daily_tokens": budget, "max_concurrent": 1},
    )
    async with replicas(config_path) as (a, b):
        clients = [a.sdk(ALICE), b.sdk(ALICE)]
        results: list[str] = []
        ident = a.services.config.current.api_keys[1].ident
        most = 0
        real_admit = [r.services.state.key_admit for r in (a, b)]

        def watch(admit: Any) -> Any:
            async def counted(*args: Any) -> Any:
                nonlocal most
                adm = await admit(*args)
                use = await a.services.state.key_use(ident, *periods())
                most = max(most, use.in_flight)
                return adm

            return counted

        a.services.state.key_admit = watch(real_admit[0])  # type: ignore[method-assign]
        b.services.state.key_admit = watch(real_admit[1])  # type: ignore[method-assign]
        try:
            for _ in range(30):  # waves of requests racing on both replicas
                wave = await asyncio.gather(
                    *(attempt(clients[i % 2], stream=i % 2 == 0) for i in range(4))
                )
                results += wave
                if "insufficient_quota" in wave:
                    break
            # Once spent, every replica refuses.
            for c in clients:
                assert await attempt(c, stream=False) == "insufficient_quota"
        finally:
            for c in clients:
                await c.close()
        assert a.services.state.health().ok and b.services.state.health().ok
        use = await b.services.state.key_use(ident, *periods())
    assert most == 1  # never two answers in flight at once, pool-wide
    assert results.count("ok") == 5
    assert use.day_tokens == 5 * cost  # the budget is never passed by more than one answer
    assert use.day_tokens < budget + cost


async def test_limits_hold_per_replica_while_redis_is_down(
    fake: FakeUpstream, config_path: Path, own_redis: RedisServer, key_prefix: str
) -> None:
    with_policy(config_path, own_redis.url, key_prefix, {"rpm": 2}, timeout=0.3)
    async with replicas(config_path, 1) as (a,):
        client = a.sdk(ALICE)
        try:
            assert await attempt(client, stream=False) == "ok"  # counted in Redis
            own_redis.stop()
            # Redis gone: this replica counts on its own (fail-open to the local limiter).
            assert await attempt(client, stream=True) == "ok"
            assert await attempt(client, stream=False) == "ok"
            assert await attempt(client, stream=False) == "requests"
            assert a.services.state.health().ok is False
        finally:
            await client.close()
