"""SIGTERM/SIGINT: stop accepting, let open streams finish (up to a deadline), write tokens."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from ag2api.testing.fake_upstream import FakeUpstream, Step
from tests.support.clients import API_KEY
from tests.support.gateways import serve


async def open_stream(client: openai.AsyncOpenAI) -> Any:
    stream = await client.chat.completions.create(
        model="gemini-2.5-flash", stream=True, messages=[{"role": "user", "content": "bye"}]
    )
    it = stream.__aiter__()
    await anext(it)
    return it


async def test_open_streams_finish_and_tokens_are_written(
    fake: FakeUpstream, config_path: Path, tokens_path: Path
) -> None:
    gw = await serve(config_path, shutdown_grace=30)
    task, stop, client = gw.task, gw.stop, gw.sdk()
    hold = asyncio.Event()
    fake.script(Step(hold=hold, hold_after=2))
    it = await open_stream(client)
    stop.set()
    await asyncio.sleep(0)  # one loop pass: serve() wakes and stops listening
    with pytest.raises(openai.APIConnectionError):  # no new connections
        await openai.AsyncOpenAI(
            base_url=str(client.base_url),
            api_key=API_KEY,
            max_retries=0,
            http_client=httpx.AsyncClient(),
        ).models.list()
    hold.set()
    rest = [c async for c in it]
    assert rest[-1].choices[0].finish_reason == "stop"
    assert await task == 0
    entry = json.loads(tokens_path.read_text())["projects"][0]
    assert entry["access_token"] in fake.tokens  # the refresh was written before exiting
    await client.close()


async def test_streams_past_the_grace_period_end_with_an_error(
    fake: FakeUpstream, config_path: Path
) -> None:
    gw = await serve(config_path, shutdown_grace=0.3)
    task, stop, client = gw.task, gw.stop, gw.sdk()
    fake.script(Step(hold=asyncio.Event(), hold_after=2))  # never released
    it = await open_stream(client)
    stop.set()
    with pytest.raises(openai.APIError) as info:
        async for _ in it:
            pass
    assert "shutting down" in info.value.message
    assert await task == 0
    await fake.stream_closed.wait()
    await client.close()
