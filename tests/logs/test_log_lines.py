"""The gateway's log says what happened: the status a client got, a next base URL only when there
is one, real tokens.json reloads (not the gateway's own writes echoed back), and masked project
ids that stay apart."""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from ag2api.redact import mask, mask_projects
from ag2api.server.watch import FileWatcher
from ag2api.services import Services
from ag2api.testing import fake_bodies as bodies
from ag2api.testing.fake_upstream import FakeUpstream, Step
from tests.support.clients import API_KEY
from tests.support.helpers import chat_text

MESSAGE = {
    "model": "claude-sonnet-4-5",
    "max_tokens": 50,
    "messages": [{"role": "user", "content": "hi"}],
}


def said(caplog: pytest.LogCaptureFixture, part: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if part in r.getMessage()]


@pytest.mark.parametrize("config_overrides", [{"retry": {"attempts": 1}}])
async def test_the_status_logged_is_the_status_sent(
    base_url: str,
    fake: FakeUpstream,
    caplog: pytest.LogCaptureFixture,
    config_overrides: dict[str, Any],
) -> None:
    caplog.set_level(logging.INFO, "ag2api")
    fake.script(Step(status=503, body=bodies.CAPACITY))
    async with httpx.AsyncClient() as http:
        answer = await http.post(
            base_url + "/v1/messages", headers={"x-api-key": API_KEY}, json=MESSAGE
        )
    assert answer.status_code == 529
    assert said(caplog, "POST /v1/messages → 529 ")


@pytest.mark.parametrize("config_overrides", [{"retry": {"attempts": 1}}])
@pytest.mark.parametrize("hosts", [1, 2])
async def test_a_next_base_url_is_announced_only_when_there_is_one(
    client: openai.AsyncOpenAI,
    fake: FakeUpstream,
    services: Services,
    caplog: pytest.LogCaptureFixture,
    config_overrides: dict[str, Any],
    hosts: int,
) -> None:
    cfg = services.config.current
    services.config.swap(
        replace(cfg, upstream=replace(cfg.upstream, base_urls=tuple(fake.urls[:hosts])))
    )
    caplog.set_level(logging.INFO, "ag2api")
    fake.script(Step(status=503, body=bodies.CAPACITY, host="a"))
    if hosts == 2:
        assert await chat_text(client)  # from host b
    else:
        with pytest.raises(openai.APIStatusError):
            await chat_text(client)
    assert len(said(caplog, "trying the next one")) == hosts - 1


@pytest.mark.parametrize("config_overrides", [{"rotation": {"count": 1}}])
async def test_the_gateways_own_tokens_writes_are_coalesced_and_not_reloaded(
    config_overrides: dict[str, Any],
    client: openai.AsyncOpenAI,
    services: Services,
    watcher: FileWatcher,
    tokens_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, "ag2api")
    writer = services.writer
    for _ in range(3):  # each account refreshes its token: written within the second
        await chat_text(client)
    await writer.wait_for(lambda: writer.pending_count == 0)
    writes = writer.writes
    for _ in range(6):  # only last uses now: kept for a lazy write
        await chat_text(client)
    assert writer.pending_count == 3 and writer.writes == writes
    await writer.flush()  # as at a stop
    assert writer.writes == writes + 1
    assert all(p["last_used_at"] for p in json.loads(tokens_path.read_text())["projects"])
    # The watcher saw every one of those writes: none is reported as a reload.
    batches = watcher.batches
    await watcher.wait_for(lambda: watcher.batches > batches)
    assert not said(caplog, "tokens reloaded")
    # A person's edit is.
    doc = json.loads(tokens_path.read_text())
    doc["projects"][0]["note"] = "by hand"
    tokens_path.write_text(json.dumps(doc))
    await watcher.wait_for(lambda: bool(said(caplog, "tokens reloaded")))


def test_masked_project_ids_stay_apart() -> None:
    short = ["p-one", "p-two", "proj-1", "proj-2"]
    masked = [mask(p) for p in short]
    assert len(set(masked)) == 4 and not any(p in m for p, m in zip(short, masked, strict=True))
    assert masked == [mask(p) for p in short]  # stable
    text = mask_projects("project p-one failed, then projects/p-two", short)
    assert masked[0] in text and masked[1] in text and mask_projects(text, short) == text
