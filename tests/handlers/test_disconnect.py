"""A client that goes away mid-stream stops the upstream transfer at once."""

from __future__ import annotations

import asyncio

import openai

from ag2api.testing.fake_upstream import FakeUpstream, Step


async def test_client_disconnect_cancels_the_upstream_stream(
    client: openai.AsyncOpenAI, fake: FakeUpstream
) -> None:
    hold = asyncio.Event()
    fake.script(Step(hold=hold, hold_after=2))
    stream = await client.chat.completions.create(
        model="gemini-2.5-flash", stream=True, messages=[{"role": "user", "content": "x"}]
    )
    first = await anext(stream.__aiter__())
    assert first.choices[0].delta.role == "assistant"
    await stream.close()
    # The upstream stream is held (silent, like a long thinking pause) and still closed.
    await asyncio.wait_for(fake.stream_closed.wait(), 1.0)
    hold.set()
    assert fake.closed_streams == 1
