"""Per-request work the hot path avoids, checked where it is wired in."""

from __future__ import annotations

import asyncio
import gc
import socket
import uuid
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from tornado.iostream import IOStream

from ag2api.failover import attempt
from ag2api.failover import dispatcher as dispatch
from ag2api.ids import random_hex, uuid4_text
from ag2api.server import http as server
from ag2api.server.gc import THRESHOLDS
from ag2api.services import Services
from ag2api.testing.fake_upstream import FakeUpstream, Step
from tests.support.gateways import serve
from tests.support.helpers import chat_text


async def test_tcp_nodelay_stays_on_after_each_response(
    config_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Tornado turns TCP_NODELAY off after every response (and on again at the next one's end):
    two setsockopt calls per request. The gateway keeps it on for the connection's life."""
    streams: list[IOStream] = []
    keep = server.keep_nodelay

    def recording(stream: IOStream) -> None:
        streams.append(stream)
        keep(stream)

    monkeypatch.setattr(server, "keep_nodelay", recording)
    gw = await serve(config_path)
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", gw.port)
        for _ in range(2):  # two responses on one kept-alive connection
            writer.write(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            head = await reader.readuntil(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 200")
            length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
            await reader.readexactly(length)
        [stream] = streams
        assert stream.socket.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
        writer.close()
    finally:
        await gw.close()


async def test_a_first_attempt_that_succeeds_builds_no_retry_machinery(
    client: openai.AsyncOpenAI, fake: FakeUpstream, monkeypatch: pytest.MonkeyPatch
) -> None:
    built: list[str] = []
    builders = {  # where each is called: the attempts loop, one account's refresh-and-retry
        "retry_attempts": (dispatch, dispatch.retry_attempts),
        "retry_refresh": (attempt, attempt.retry_refresh),
    }

    def counting(name: str) -> Any:
        def build(*args: Any) -> Any:
            built.append(name)
            return builders[name][1](*args)

        return build

    for name, (module, _) in builders.items():
        monkeypatch.setattr(module, name, counting(name))
    assert await chat_text(client)
    assert await chat_text(client, stream=True)
    assert built == []  # no tenacity object for requests that succeed at once
    # A failed first attempt still goes through tenacity, which retries it (as attempt 2).
    fake.script(Step(status=503))
    assert await chat_text(client)
    assert built == ["retry_attempts"]


async def test_the_serving_process_freezes_its_start_up_heap(config_path: Path) -> None:
    before = gc.get_threshold()
    gw = await serve(config_path)
    try:
        assert gc.get_threshold() == THRESHOLDS
        assert gc.get_freeze_count() > 0
    finally:
        await gw.close()
        gc.unfreeze()
        gc.set_threshold(*before)


def test_ids_are_random_and_well_formed() -> None:
    ids = {uuid4_text() for _ in range(2000)}
    assert len(ids) == 2000
    for text in list(ids)[:200]:
        parsed = uuid.UUID(text)
        assert str(parsed) == text and parsed.version == 4 and parsed.variant == uuid.RFC_4122
    assert len(random_hex()) == 32 and len(random_hex(24)) == 24
    assert int(random_hex(), 16) >= 0 and random_hex() != random_hex()


async def test_health_shows_log_lines_lost_to_a_blocked_sink(
    client: openai.AsyncOpenAI, services: Services, base_url: str
) -> None:
    services.request_log.writer.capacity = 0  # as if stdout had been stuck for 50,000 lines
    assert await chat_text(client)
    async with httpx.AsyncClient() as http:
        health = (await http.get(base_url + "/health")).json()
    assert health["logs"] == {"dropped_lines": 1}


async def test_the_upstream_work_runs_in_the_requests_own_task(
    client: openai.AsyncOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A task of its own for each request's upstream work cost its creation and two turns of
    the loop: the request's task runs it (and is what a client's leaving cancels)."""
    made: list[str] = []
    loop = asyncio.get_running_loop()
    create_task = loop.create_task

    def recording(coro: Any, **kwargs: Any) -> Any:
        made.append(getattr(coro, "__qualname__", ""))
        return create_task(coro, **kwargs)

    monkeypatch.setattr(loop, "create_task", recording)
    assert await chat_text(client)
    assert await chat_text(client, stream=True)
    assert "RequestHandler._execute" in made  # the recording sees the requests' own tasks
    assert not {"Dispatcher.generate", "CompletionHandler._stream"} & set(made)
