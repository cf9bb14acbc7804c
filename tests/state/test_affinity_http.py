"""Conversation affinity over HTTP, on both state backends and across two replicas: a Claude
Code-, a Codex- and a Gemini CLI-shaped conversation each keep to one account while the rotation
(one use each) moves every other request on; a cooldown moves a conversation once."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from ag2api.services import Services
from ag2api.testing import fake_bodies as bodies
from ag2api.testing.fake_upstream import FakeUpstream, Step
from tests.support.clock import FakeClock
from tests.support.conversations import ClaudeCode, Codex, GeminiCli, one_shot, served_by
from tests.support.replicas import replicas


@pytest.fixture
def config_overrides(backend_config: dict[str, Any]) -> dict[str, Any]:
    doc: dict[str, Any] = {"rotation": {"count": 1}, "routing": {"affinity_ttl": 4 * 3600}}
    return {**doc, **backend_config}


async def test_each_client_keeps_its_conversation_on_one_account(
    fake: FakeUpstream, base_url: str, backend: str
) -> None:
    talks = [ClaudeCode(), Codex(), GeminiCli()]
    async with httpx.AsyncClient(timeout=30) as http:
        for t in range(4):
            for i, talk in enumerate(talks):
                answer = await talk.turn(http, base_url, f"marker c{i}-t{t}")
                assert answer.status_code == 200, answer.text
                await one_shot(http, base_url, f"noise {i}-{t}")
    others = {p for t in range(4) for i in range(3) for p in served_by(fake, f"noise {i}-{t}")}
    assert len(others) == 3  # the rotation went round all the while
    for i in range(3):
        turns = [served_by(fake, f"c{i}-t{t}") for t in range(4)]
        assert all(len(t) == 1 for t in turns), turns
        assert len({t[0] for t in turns}) == 1, (i, turns)


async def test_a_cooldown_moves_the_conversation_once(
    fake: FakeUpstream, base_url: str, services: Services, backend: str
) -> None:
    clock = FakeClock(now=time.time())
    if backend == "memory":
        services.pool.clock = clock
    talk = ClaudeCode()
    async with httpx.AsyncClient(timeout=30) as http:
        assert (await talk.turn(http, base_url, "marker t0")).status_code == 200
        [first] = served_by(fake, "t0")
        await one_shot(http, base_url, "noise")
        fake.script(Step(status=429, body=bodies.QUOTA_EXHAUSTED))  # its account runs out
        assert (await talk.turn(http, base_url, "marker t1")).status_code == 200
        tried, moved = served_by(fake, "t1")
        assert tried == first and moved != first
        if backend == "memory":
            clock.advance(2 * 3600)  # the old account's cooldown is over: it stays moved
        for t in (2, 3, 4):
            assert (await talk.turn(http, base_url, f"marker t{t}")).status_code == 200
            assert served_by(fake, f"t{t}") == [moved]
        metrics = (await http.get(base_url + "/metrics")).text
    counted = {
        s.labels["result"]: s.value
        for f in text_string_to_metric_families(metrics)
        if f.name == "ag2api_affinity"
        for s in f.samples
        if s.name.endswith("_total")
    }
    # "new": the conversation's first turn and the one-shot request (each starts one).
    assert counted == {"new": 2.0, "moved": 1.0, "hit": 3.0}


@pytest.mark.parametrize("backend", ["redis"])
async def test_replicas_keep_a_conversation_on_one_account(
    fake: FakeUpstream, config_path: Path, backend: str
) -> None:
    talk = Codex()
    async with replicas(config_path) as (a, b), httpx.AsyncClient(timeout=30) as http:
        for t in range(4):
            url = (a, b)[t % 2].url
            assert (await talk.turn(http, url, f"marker t{t}")).status_code == 200
            await one_shot(http, (b, a)[t % 2].url, f"noise {t}")
        turns = [served_by(fake, f"t{t}") for t in range(4)]
        assert all(len(t) == 1 for t in turns) and len({t[0] for t in turns}) == 1, turns
        [bound] = turns[0]
        fake.script(Step(status=429, body=bodies.QUOTA_EXHAUSTED))
        assert (await talk.turn(http, a.url, "marker t4")).status_code == 200
        tried, moved = served_by(fake, "t4")
        assert tried == bound and moved != bound
        # The other replica follows the move (the cooldown and the binding are shared).
        for t in (5, 6):
            assert (await talk.turn(http, b.url, f"marker t{t}")).status_code == 200
            assert served_by(fake, f"t{t}") == [moved]
