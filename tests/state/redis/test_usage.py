"""Usage statistics of replicas on separate hosts (a usage_db each) add up once, on a real Redis.

Every replica pushes its batches to counters in Redis; only the elected leader drains them into
its own store. The other replica's store stays empty, so nothing is counted twice; a graceful
stop pushes what is pending; while Redis is away each replica writes its own store.
"""

from __future__ import annotations

import dataclasses
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import pytest

from ag2api.config.schema import GatewayConfig
from ag2api.observe.usage import connect, query_usage, today
from tests.support.clients import API_KEY
from tests.support.files import update_config
from tests.support.gateways import Gateway
from tests.support.helpers import chat_text
from tests.support.redis_server import RedisServer
from tests.support.replicas import (
    MODEL,
    eventually,
    leader_of,
    replicas,
    state_config,
)

OTHER_KEY = "sk-other-0123456789abcdef"
CLAUDE = "claude-sonnet-4-5"
COUNTED = ("requests", "prompt_tokens", "completion_tokens", "reasoning_tokens", "errors")


@pytest.fixture
def config_overrides(redis_server: RedisServer, key_prefix: str) -> dict[str, Any]:
    return {
        **state_config(redis_server.url, key_prefix),
        "api_keys": [{"key": API_KEY, "label": "tests"}, {"key": OTHER_KEY, "label": "other"}],
        "observability": {"usage_flush_seconds": 60},  # the tests flush (or stop) themselves
    }


def hosts(
    config_path: Path, tmp_path: Path, n: int = 2
) -> AbstractAsyncContextManager[list[Gateway]]:
    """``replicas()``, each with a usage_db of its own (another host). A test may close a replica
    itself and take it out of the list."""

    def own_store(cfg: GatewayConfig, i: int) -> GatewayConfig:
        obs = dataclasses.replace(cfg.observability, usage_db=tmp_path / f"host{i}.sqlite3")
        return dataclasses.replace(cfg, observability=obs)

    return replicas(config_path, n, own_store)


def rows(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    db = connect(path)
    try:
        return query_usage(db, group_by=("day", "key", "model"))
    finally:
        db.close()


def totals(*paths: Path) -> dict[tuple[str, str, str], tuple[int, ...]]:
    out: dict[tuple[str, str, str], tuple[int, ...]] = {}
    for path in paths:
        for r in rows(path):
            key = (r["day"], r["key"], r["model"])
            old = out.get(key, (0,) * len(COUNTED))
            out[key] = tuple(a + int(r[c]) for a, c in zip(old, COUNTED, strict=True))
    return out


async def serve_mixed(group: list[Gateway], n: int) -> dict[tuple[str, str, str], tuple[int, ...]]:
    """``n`` chat completions over both replicas, two keys and two models; what each returned."""
    expected: dict[tuple[str, str, str], tuple[int, ...]] = {}
    for i in range(n):
        replica = group[i % len(group)]
        key, label = (API_KEY, "tests") if i % 3 else (OTHER_KEY, "other")
        model = MODEL if i % 4 else CLAUDE
        client = replica.sdk(key)
        try:
            done = await client.chat.completions.create(
                model=model, messages=[{"role": "user", "content": f"hi {i}"}]
            )
        finally:
            await client.close()
        usage = done.usage
        assert usage is not None and usage.prompt_tokens > 0
        details = usage.completion_tokens_details
        reasoning = (details.reasoning_tokens or 0) if details else 0
        row = (1, usage.prompt_tokens, usage.completion_tokens, reasoning, 0)
        old = expected.get((today(), label, model), (0,) * len(COUNTED))
        expected[(today(), label, model)] = tuple(a + b for a, b in zip(old, row, strict=True))
    return expected


async def test_the_leader_stores_every_replicas_usage_once(
    fake: Any, config_path: Path, tmp_path: Path
) -> None:
    async with hosts(config_path, tmp_path) as group:
        leader, other = await leader_of(group)
        expected = await serve_mixed(group, 8)
        assert other.services.usage._pending  # still batched when it stops
        group.remove(other)
        await other.close()  # a graceful stop of a non-leader: its counts go to Redis
        await leader.services.usage.flush()  # the leader's periodic drain
        leader_db, other_db = leader.services.usage.path, other.services.usage.path
        assert totals(leader_db) == expected
        assert sum(v[0] for v in expected.values()) == 8
        assert rows(other_db) == []
    # Stopping the leader drains nothing twice.
    assert totals(leader_db) == expected
    assert rows(other_db) == []


async def test_the_leader_drains_on_its_own_timer(
    fake: Any, config_path: Path, tmp_path: Path
) -> None:
    update_config(config_path, {"observability": {"usage_flush_seconds": 0.1}})
    async with hosts(config_path, tmp_path) as group:
        leader, other = await leader_of(group)
        for _ in range(3):
            await chat_text(other.client)  # the leader itself serves nothing
        path = leader.services.usage.path
        await eventually(lambda: [r["requests"] for r in rows(path)] == [3])
        assert rows(other.services.usage.path) == []


async def test_a_stopping_leader_drains_and_the_last_replica_takes_over(
    fake: Any, config_path: Path, tmp_path: Path
) -> None:
    async with hosts(config_path, tmp_path) as group:
        leader, other = await leader_of(group)
        expected = await serve_mixed(group, 6)
        await other.services.usage.flush()  # pushed to Redis, not written here
        group.remove(leader)
        await leader.close()  # the stopping leader drains everything pushed so far
        assert totals(leader.services.usage.path) == expected
        assert rows(other.services.usage.path) == []
        later = await serve_mixed([other], 2)
    # The last replica to stop found no leader, took over and drained its own rest.
    assert totals(other.services.usage.path) == later
    assert totals(leader.services.usage.path) == expected


@pytest.mark.timeout(seconds=60)
async def test_redis_down_counts_land_locally_and_none_is_lost(
    fake: Any,
    config_path: Path,
    tmp_path: Path,
    own_redis: RedisServer,
    key_prefix: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    update_config(config_path, state_config(own_redis.url, key_prefix))
    async with hosts(config_path, tmp_path) as group:
        leader, other = await leader_of(group)
        paths = [r.services.usage.path for r in group]
        before = await serve_mixed(group, 4)
        for r in group:
            await r.services.usage.flush()  # pushed; the leader drained (order: other last)
        await leader.services.usage.flush()
        assert totals(leader.services.usage.path) == before
        assert rows(other.services.usage.path) == []
        own_redis.kill()
        after = await serve_mixed(group, 6)
        for r in group:
            await r.services.usage.flush()
        # Both replicas wrote their own share locally while Redis was away.
        assert all(rows(p) for p in paths)
        more = await serve_mixed(group, 2)  # still pending at the (graceful) stop below
    logged = [r for r in caplog.records if "usage counters are not answering" in r.getMessage()]
    assert len(logged) == 2  # once per replica
    expected = dict(before)
    for batch in (after, more):
        for key, value in batch.items():
            old = expected.get(key, (0,) * len(COUNTED))
            expected[key] = tuple(a + b for a, b in zip(old, value, strict=True))
    assert totals(*paths) == expected
    assert sum(v[0] for v in expected.values()) == 12
