"""Two gateways on one Redis and one fake upstream act as one gateway.

Each replica is a whole gateway (its own Services, app and HTTP server on a port of its own) in
this process; the test about a replica dying runs one in a separate process and SIGKILLs it.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

from ag2api.observe.usage import connect, query_usage
from ag2api.server.reload import Reloader
from ag2api.server.watch import FileWatcher
from ag2api.testing import fake_bodies as bodies
from ag2api.testing.fake_upstream import FakeUpstream, Step
from tests.support.clients import openai_sdk
from tests.support.files import file_projects, update_config
from tests.support.helpers import chat_text
from tests.support.http import fetch
from tests.support.redis_server import RedisServer
from tests.support.replicas import (
    MODEL,
    eventually,
    leader_of,
    replicas,
    state_config,
    watching,
)
from tests.support.upstream import projects

ALPHA, BETA, GAMMA = "proj-alpha-0001", "proj-beta-0002", "proj-gamma-0003"


@pytest.fixture
def config_overrides(redis_server: RedisServer, key_prefix: str) -> dict[str, Any]:
    return state_config(redis_server.url, key_prefix)


@pytest.mark.parametrize("config_overrides", [{"rotation": {"count": 2}}], indirect=False)
async def test_rotation_counts_pool_wide(
    fake: FakeUpstream, config_path: Path, redis_server: RedisServer, key_prefix: str
) -> None:
    update_config(config_path, state_config(redis_server.url, key_prefix))
    async with replicas(config_path) as (a, b):
        for i in range(6):
            await chat_text((a, b)[i % 2].client, stream=bool(i % 3))
    # Alternating replicas, yet each account serves 2 requests in a row: one count.
    assert projects(fake) == [ALPHA, ALPHA, BETA, BETA, GAMMA, GAMMA]


async def test_a_429_through_a_keeps_b_off_that_account_and_model(
    fake: FakeUpstream, config_path: Path
) -> None:
    async with replicas(config_path) as (a, b):
        a.services.pool.rotation_count = b.services.pool.rotation_count = 1
        fake.script(Step(status=429, body=bodies.QUOTA_EXHAUSTED))
        await chat_text(a.client)
        assert projects(fake) == [ALPHA, BETA]  # cooled on A, failed over
        started = time.monotonic()
        for i in range(4):
            await chat_text(b.client, stream=bool(i % 2))
        assert time.monotonic() - started < 1.0
        assert ALPHA not in projects(fake)[2:]
        # The other model is not affected.
        for _ in range(3):
            await chat_text(b.client, model="gemini-3-pro-high")
        assert ALPHA in projects(fake)[-3:]
        await eventually(lambda: b.services.state.cooling_until(b.services.pool.accounts[0], MODEL))
        health = await b.health()
        assert [c["model"] for c in health["accounts"]["cooling"]] == [MODEL]


async def test_one_refresh_for_concurrent_requests_on_all_replicas(
    fake: FakeUpstream, config_path: Path
) -> None:
    async with replicas(config_path, 3) as group:
        for r in group:
            r.services.pool.rotation_count = 1000  # every request on the first account
        gate = asyncio.Event()
        fake.token_gate = gate
        tasks = [
            asyncio.ensure_future(chat_text(group[i % 3].client, stream=i % 2 == 0))
            for i in range(9)
        ]
        await fake.token_requested.wait()  # one refresh is held at the token endpoint
        # Every request is in a gateway, waiting for that one token, before it is let go.
        await eventually(lambda: sum(len(r.services.open_requests) for r in group) == 9)
        gate.set()
        answers = await asyncio.gather(*tasks)
        assert all(x.endswith("You said: hi") for x in answers)
        assert dict(fake.refresh_calls) == {"rt-one": 1}


async def test_one_refresh_for_concurrent_401s_on_all_replicas(
    fake: FakeUpstream, config_path: Path
) -> None:
    async with replicas(config_path, 3) as group:
        for r in group:
            r.services.pool.rotation_count = 1000
            await chat_text(r.client)  # each replica holds the token
        assert dict(fake.refresh_calls) == {"rt-one": 1}
        fake.revoke_tokens("rt-one")  # upstream now answers 401 to that token everywhere
        fake.refresh_calls.clear()
        fake.token_requested.clear()
        gate = asyncio.Event()
        fake.token_gate = gate
        tasks = [asyncio.ensure_future(chat_text(group[i % 3].client)) for i in range(6)]
        await fake.token_requested.wait()
        await eventually(lambda: sum(len(r.services.open_requests) for r in group) == 6)
        gate.set()
        answers = await asyncio.gather(*tasks)
        assert all(x.endswith("You said: hi") for x in answers)
        assert dict(fake.refresh_calls) == {"rt-one": 1}
        assert set(projects(fake)) == {ALPHA}


async def test_a_disable_on_a_is_honoured_by_b(fake: FakeUpstream, config_path: Path) -> None:
    fake.accounts["rt-one"].revoked = True  # refreshing alpha answers invalid_grant
    async with replicas(config_path) as (a, b):
        await chat_text(a.client)
        assert projects(fake) == [BETA]
        assert fake.refresh_calls["rt-one"] == 1
        for _ in range(4):
            await chat_text(b.client)
        assert ALPHA not in projects(fake)
        assert fake.refresh_calls["rt-one"] == 1  # B never tried the dead token
        await eventually(lambda: not b.services.pool.accounts[0].enabled)
        health = await b.health()
        assert health["accounts"]["disabled_reasons"] == [
            {
                "project": "proj…0001",
                "reason": "token refresh failed: invalid_grant: Token has been expired or revoked.",
            }
        ]


async def test_one_replica_writes_tokens_json(fake: FakeUpstream, config_path: Path) -> None:
    async with replicas(config_path, 3) as group:
        await eventually(lambda: sum(r.services.state.is_writer() for r in group) == 1)  # type: ignore[attr-defined]
        writer = next(r for r in group if r.services.state.is_writer())  # type: ignore[attr-defined]
        others = [r for r in group if r is not writer]
        for r in group:
            await chat_text(r.client)
        await asyncio.gather(*(r.services.writer.flush() for r in group))
        assert writer.services.writer.writes >= 1
        assert all(r.services.writer.writes == 0 for r in others)


async def test_no_secret_in_a_redis_key(
    fake: FakeUpstream, config_path: Path, redis_server: RedisServer, key_prefix: str
) -> None:
    fake.script(Step(status=429, body=bodies.QUOTA_EXHAUSTED))
    async with replicas(config_path) as (a, b):
        for r in (a, b, a):
            await chat_text(r.client)
        redis = a.services.state.client.redis  # type: ignore[attr-defined]
        keys = [k.decode() async for k in redis.scan_iter(match=key_prefix + "*")]
    assert any(":cd:" in k for k in keys) and any(":tok:" in k for k in keys)
    for k in keys:
        for secret in ("rt-one", "rt-two", "proj-", "@example.com", "ya29"):
            assert secret not in k


@pytest.fixture
def own_config(
    config_path: Path, own_redis: RedisServer, key_prefix: str
) -> Iterator[tuple[Path, RedisServer]]:
    update_config(config_path, state_config(own_redis.url, key_prefix))
    yield config_path, own_redis


@pytest.mark.timeout(seconds=60)
async def test_redis_killed_mid_run(
    fake: FakeUpstream, own_config: tuple[Path, RedisServer], caplog: pytest.LogCaptureFixture
) -> None:
    config_path, server = own_config
    async with replicas(config_path) as (a, b):
        for r in (a, b):
            await chat_text(r.client)
        server.kill()
        for i in range(6):  # no request fails because Redis is gone
            assert (await chat_text((a, b)[i % 2].client, stream=bool(i % 2))).endswith("hi")
        for r in (a, b):
            health = await r.health()
            assert health["state"]["backend"] == "redis" and not health["state"]["ok"]
            assert health["state"]["last_error"] and health["status"] == "degraded"
        down = [r for r in caplog.records if "is not answering" in r.getMessage()]
        assert len(down) == 2  # once per replica
        metrics = (await fetch(a.url + "/metrics")).body.decode()
        assert "ag2api_state_backend_ok 0.0" in metrics
        # A cooldown learnt while Redis was away reaches the other replica once it is back.
        fake.script(Step(status=429, body=bodies.QUOTA_EXHAUSTED))
        a.services.pool.rotation_count = 1
        await chat_text(a.client)
        server.start()
        for r in (a, b):
            await eventually(lambda r=r: r.services.state.health().ok)
        await eventually(
            lambda: (
                b.services.state.cooling_until(b.services.pool.accounts[0], MODEL)
                or b.services.state.cooling_until(b.services.pool.accounts[1], MODEL)
                or b.services.state.cooling_until(b.services.pool.accounts[2], MODEL)
            )
        )
        health = await b.health()
        assert health["state"]["ok"] and health["state"]["last_error"]
        assert (await chat_text(b.client)).endswith("hi")


@pytest.mark.timeout(seconds=60)
@pytest.mark.parametrize("accounts_spec", [(("rt-one", ALPHA),)])
async def test_a_killed_replica_frees_its_slots_when_the_hold_ends(
    fake: FakeUpstream,
    config_path: Path,
    redis_server: RedisServer,
    key_prefix: str,
    tmp_path: Path,
    accounts_spec: Any,
) -> None:
    update_config(
        config_path,
        {
            **state_config(redis_server.url, key_prefix, lease_seconds=2, timeout=1.5),
            "limits": {"per_account": 1, "slot_wait": 0.2},
            "server": {"port": 0},
        },
    )
    hold = asyncio.Event()
    fake.script(Step(hold=hold, hold_after=1))
    port_file = tmp_path / "port"
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        RUN_REPLICA,
        str(config_path),
        str(port_file),
        env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[3])},
    )
    try:
        await eventually(port_file.exists, within=20)
        url = f"http://127.0.0.1:{port_file.read_text().strip()}"
        other = openai_sdk(url)
        stream = await other.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "hi"}], stream=True
        )
        first = await anext(aiter(stream))  # mid-stream: the replica holds the only slot
        assert first.choices
        async with replicas(config_path, 1) as (b,):
            with pytest.raises(openai.APIStatusError) as busy:
                await chat_text(b.client)
            assert busy.value.status_code == 503
            proc.send_signal(signal.SIGKILL)
            await proc.wait()
            killed = time.monotonic()
            await stream.close()
            await other.close()

            async def served() -> bool:
                try:
                    return (await chat_text(b.client)).endswith("hi")
                except openai.APIStatusError:
                    return False

            await eventually(served, within=10)
            assert time.monotonic() - killed < 2 + 1.5  # the slot hold's TTL, and a little
    finally:
        hold.set()
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


RUN_REPLICA = """
import asyncio, sys
from pathlib import Path
from ag2api.app import serve
from ag2api.config.live import read_config
from ag2api.observe.usage import connect, query_usage
from ag2api.server.reload import Reloader

async def main():
    cfg = read_config(Path(sys.argv[1]), environ={})
    def ready(services, port):
        Path(sys.argv[2]).write_text(str(port))
    await serve(cfg, on_ready=ready)

asyncio.run(main())
"""


async def test_the_leader_persists_a_disable_and_a_file_edit_reaches_every_replica(
    fake: FakeUpstream, config_path: Path, tokens_path: Path
) -> None:
    fake.accounts["rt-one"].revoked = True
    async with replicas(config_path) as group:
        watchers = [FileWatcher(r.services.config, Reloader(r.services)) for r in group]
        for w in watchers:
            w.start()
            await asyncio.wait_for(w.ready.wait(), 10)
        try:
            await chat_text(group[1].client)  # B meets the dead token; the leader writes it
            await eventually(lambda: not file_projects(tokens_path)[ALPHA]["enabled"])
            assert "invalid_grant" in file_projects(tokens_path)[ALPHA]["disabled_reason"]
            for r in group:  # out of rotation everywhere before the person's edit
                await eventually(lambda r=r: not r.services.pool.accounts[0].enabled)
            # A person logs in again: a new refresh token, enabled.
            fake.add_account("rt-one-new", ALPHA)
            doc = json.loads(tokens_path.read_text())
            for entry in doc["projects"]:
                if entry["project_id"] == ALPHA:
                    entry.update(refresh_token="rt-one-new", enabled=True, disabled_reason=None)
            tokens_path.write_text(json.dumps(doc, indent=2))
            edited = time.monotonic()
            for r in group:
                await eventually(lambda r=r: r.services.pool.accounts[0].enabled, within=3)
            assert time.monotonic() - edited < 1.5
            for r in group:
                r.services.pool.rotation_count = 1
            for i in range(6):
                await chat_text(group[i % 2].client)
            assert ALPHA in projects(fake)
        finally:
            for w in watchers:
                await w.stop()


async def test_without_a_key_a_rotated_refresh_token_stays_out_of_redis(
    fake: FakeUpstream, config_path: Path, tokens_path: Path, key_prefix: str
) -> None:
    """Refresh tokens cross Redis only sealed: with no key set, a token Google rotated on a
    non-leader never reaches Redis, yet tokens.json (which this machine's replicas share) and,
    through its file watcher, the leader get it."""
    async with replicas(config_path) as group:
        leader, other = await leader_of(group)
        async with watching(group):
            for r in group:
                r.services.pool.rotation_count = 1000  # every request on alpha
            fake.rotate_refresh_tokens = True
            assert (await chat_text(other.client)).endswith("You said: hi")
            fake.rotate_refresh_tokens = False
            new = next(t for t in fake.accounts if t.startswith("rt-one~"))
            await eventually(lambda: file_projects(tokens_path)[ALPHA]["refresh_token"] == new)
            await eventually(lambda: leader.services.pool.accounts[0].refresh_token == new)
        redis = leader.services.state.client.redis  # type: ignore[attr-defined]
        assert not await redis.hlen(key_prefix + "rtok")
        for key in [k async for k in redis.scan_iter(match=key_prefix + "*")]:
            kind = await redis.type(key)
            if kind == b"hash":
                values = await redis.hvals(key)
            elif kind == b"string":
                values = [await redis.get(key)]
            else:
                continue
            assert not any(b"rt-" in v for v in values), key


async def test_claude_thinking_made_on_a_is_replayed_through_b(
    fake: FakeUpstream, config_path: Path
) -> None:
    model = "claude-sonnet-4-5-thinking"
    weather = {
        "type": "function",
        "function": {
            "name": "get_weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
    }
    async with replicas(config_path) as (a, b):
        asked = [{"role": "user", "content": "use get_weather for Paris"}]
        done = await a.client.chat.completions.create(
            model=model,
            messages=asked,  # type: ignore[arg-type]
            tools=[weather],  # type: ignore[list-item]
        )
        (call,) = done.choices[0].message.tool_calls or []
        await a.services.state.settle()
        history = [
            *asked,
            {"role": "assistant", "content": None, "tool_calls": [call.model_dump()]},
            {"role": "tool", "tool_call_id": call.id, "content": '{"temp_c": 18}'},
        ]
        assert len(b.services.signatures) == 0
        await b.client.chat.completions.create(
            model=model,
            messages=history,  # type: ignore[arg-type]
            tools=[weather],  # type: ignore[list-item]
        )
    model_turn = fake.generate_requests()[-1].body["request"]["contents"][1]["parts"]
    assert model_turn[0]["thought"] is True  # B replayed the thinking block A saw
    assert model_turn[0]["thoughtSignature"] in fake.issued_signatures


async def test_usage_of_replicas_sharing_one_store_adds_up(
    fake: FakeUpstream, config_path: Path, tokens_path: Path
) -> None:
    """Replicas on one machine share usage.sqlite3: their counts go through Redis and the
    leader writes them (test_usage.py), a graceful stop flushes what is pending,
    nothing is counted twice."""
    async with replicas(config_path, 3) as group:
        for i in range(12):
            await chat_text(group[i % 3].client, stream=bool(i % 2))
    db = connect(tokens_path.parent / "usage.sqlite3")
    try:
        rows = query_usage(db, group_by=("model",))
    finally:
        db.close()
    assert [(r["model"], r["requests"]) for r in rows] == [(MODEL, 12)]


async def test_redis_can_be_flushed_without_losing_anything(
    fake: FakeUpstream, config_path: Path, tokens_path: Path, key_prefix: str
) -> None:
    """Redis holds runtime overlays only: wiping every key mid-run loses nothing tokens.json
    does not hold, and the replicas carry on (a new leader, new slot holds, tokens fetched anew)."""
    doc = json.loads(tokens_path.read_text())
    doc["projects"][0].update(enabled=False, disabled_reason="kept for the IDE")
    tokens_path.write_text(json.dumps(doc))
    async with replicas(config_path) as (a, b):
        for r in (a, b):
            r.services.pool.rotation_count = 1
            await chat_text(r.client)
        redis = a.services.state.client.redis  # type: ignore[attr-defined]
        keys = [k async for k in redis.scan_iter(match=key_prefix + "*")]
        assert keys
        await redis.delete(*keys)
        for i in range(6):
            assert (await chat_text((a, b)[i % 2].client, stream=bool(i % 2))).endswith("hi")
        assert ALPHA not in projects(fake)  # the file's disable still holds
        await eventually(lambda: sum(r.services.state.is_writer() for r in (a, b)) == 1)  # type: ignore[attr-defined]
        assert a.services.state.health().ok and b.services.state.health().ok


async def test_a_stored_response_made_on_a_is_continued_and_deleted_through_b(
    fake: FakeUpstream, config_path: Path
) -> None:
    async with replicas(config_path) as (a, b):
        first = await a.client.responses.create(model=MODEL, input="Say hello.")
        seen = await b.client.responses.retrieve(first.id)  # stored in Redis, not only on A
        assert seen.id == first.id and seen.output_text == first.output_text
        follow = await b.client.responses.create(
            model=MODEL, input="And again.", previous_response_id=first.id
        )
        contents = fake.generate_requests()[-1].body["request"]["contents"]
        assert len(contents) == 3  # A's turn (question and answer) came back through B
        assert follow.previous_response_id == first.id
        await b.client.responses.delete(first.id)
        with pytest.raises(openai.NotFoundError):
            await a.client.responses.retrieve(first.id)
