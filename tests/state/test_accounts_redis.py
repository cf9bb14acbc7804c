"""Accounts across replicas on one Redis: with a key set the tokens they share (access tokens in
``tok:``, rotated refresh tokens in ``rtok``) are sealed like those in tokens.json, and an account
a recheck puts back is back on every replica."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from ag2api.accounts.crypto import PREFIX
from ag2api.testing.fake_upstream import FakeUpstream
from tests.support.clock import FakeClock
from tests.support.helpers import chat_text
from tests.support.redis_server import RedisServer
from tests.support.replicas import eventually, leader_of, replicas, state_config

KEY = "correct horse battery staple 42"


@pytest.fixture
def config_overrides(tmp_path: Path, redis_server: RedisServer, key_prefix: str) -> dict[str, Any]:
    (tmp_path / "secret.key").write_text(KEY + "\n")
    return {"secrets": {"key_file": "secret.key"}, **state_config(redis_server.url, key_prefix)}


async def test_redis_holds_only_sealed_tokens(
    fake: FakeUpstream,
    config_path: Path,
    tokens_path: Path,
    redis_server: RedisServer,
    key_prefix: str,
) -> None:
    async with replicas(config_path) as group:
        leader, other = await leader_of(group)
        for r in group:
            r.services.pool.rotation_count = 1000
        fake.rotate_refresh_tokens = True
        assert (await chat_text(other.client)).endswith("You said: hi")
        fake.rotate_refresh_tokens = False
        new = next(t for t, a in fake.accounts.items() if t.startswith("rt-one~"))
        redis = leader.services.state.client.redis  # type: ignore[attr-defined]
        values = [await redis.get(k) async for k in redis.scan_iter(match=key_prefix + "tok:*")]
        values += list((await redis.hgetall(key_prefix + "rtok")).values())
        assert values and all(v.decode().split("|")[-1].startswith(PREFIX) for v in values)
        assert not any(b"ya29" in v or b"rt-one" in v for v in values)
        # The other replica opens them: it adopts the rotated token and reuses the access token.
        await eventually(lambda: leader.services.pool.accounts[0].refresh_token == new)
        fake.refresh_calls.clear()
        assert (await chat_text(leader.client)).endswith("You said: hi")
        assert sum(fake.refresh_calls.values()) == 0
        # And tokens.json, which the leader writes, the same.
        await asyncio.gather(*(r.services.writer.flush() for r in group))
        await eventually(lambda: PREFIX in tokens_path.read_text())
        assert "rt-one" not in tokens_path.read_text() and "ya29" not in tokens_path.read_text()


async def test_a_recheck_on_the_leader_puts_the_account_back_on_every_replica(
    fake: FakeUpstream, config_path: Path
) -> None:
    """Replicas with their own copy of tokens.json (no shared file to reload) still follow."""
    async with replicas(config_path) as group:
        leader, other = await leader_of(group)
        fake.accounts["rt-one"].needs_verification = True
        reason = "VALIDATION_REQUIRED: verify — verify at https://accounts.google.com/signin/x"
        leader.services.state.disable(leader.services.pool.accounts[0], reason)
        await eventually(lambda: not other.services.pool.accounts[0].enabled)
        fake.accounts["rt-one"].needs_verification = False

        clock = FakeClock()
        for r in group:
            r.services.recheck.clock = clock.monotonic
        await asyncio.gather(*(r.services.recheck.run_once() for r in group))
        clock.advance(600)
        assert await other.services.recheck.run_once() == 0  # not the tokens.json writer
        assert await leader.services.recheck.run_once() == 1
        await eventually(lambda: other.services.pool.accounts[0].enabled)
        other.services.pool.rotation_count = 1000
        assert (await chat_text(other.client)).endswith("You said: hi")
        assert fake.generate_requests()[-1].body["project"] == "proj-alpha-0001"
