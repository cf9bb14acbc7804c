"""Chat completions through the real OpenAI SDK, streamed and not."""

from __future__ import annotations

import asyncio

import openai

from ag2api.testing.fake_upstream import FakeUpstream, Step


async def test_non_stream_answer_has_reasoning_and_usage(
    client: openai.AsyncOpenAI, fake: FakeUpstream
) -> None:
    completion = await client.chat.completions.create(
        model="gemini-2.5-flash", messages=[{"role": "user", "content": "Hi there"}]
    )
    choice = completion.choices[0]
    assert completion.object == "chat.completion"
    assert choice.message.role == "assistant"
    assert choice.message.content == (
        "Hello from the ag2api fake upstream (gemini-2.5-flash)! You said: Hi there"
    )
    assert choice.message.reasoning_content == "Thinking about what the user said: Hi there"
    assert choice.finish_reason == "stop"
    usage = completion.usage
    assert usage is not None and usage.completion_tokens_details is not None
    assert usage.completion_tokens_details.reasoning_tokens == 8
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    sent = fake.generate_requests()[-1]
    assert sent.path == "/v1internal:generateContent"
    assert sent.body["request"]["generationConfig"]["thinkingConfig"] == {
        "includeThoughts": True,
        "thinkingBudget": -1,
    }


async def test_stream_yields_reasoning_then_content(
    client: openai.AsyncOpenAI, fake: FakeUpstream
) -> None:
    stream = await client.chat.completions.create(
        model="gemini-2.5-flash",
        stream=True,
        messages=[{"role": "user", "content": "Stream please"}],
    )
    chunks = [c async for c in stream]
    reasoning = "".join(
        c.choices[0].delta.reasoning_content or ""
        for c in chunks
        if c.choices and getattr(c.choices[0].delta, "reasoning_content", None)
    )
    content = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert reasoning == "Thinking about what the user said: Stream please"
    assert content.endswith("You said: Stream please")
    assert "Thinking" not in content
    assert len({c.id for c in chunks}) == 1
    roles = [c.choices[0].delta.role for c in chunks if c.choices and c.choices[0].delta.role]
    assert roles == ["assistant"]
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices[0].finish_reason]
    assert finishes == ["stop"]
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert all(c.usage is None for c in chunks)
    assert fake.generate_requests()[-1].path == "/v1internal:streamGenerateContent?alt=sse"


async def test_stream_include_usage_sends_one_final_usage_chunk(client: openai.AsyncOpenAI) -> None:
    stream = await client.chat.completions.create(
        model="gemini-2.5-flash",
        stream=True,
        stream_options={"include_usage": True},
        messages=[{"role": "user", "content": "count me"}],
    )
    chunks = [c async for c in stream]
    with_usage = [c for c in chunks if c.usage is not None]
    assert with_usage == [chunks[-1]]
    assert chunks[-1].choices == []
    assert chunks[-1].usage.completion_tokens_details.reasoning_tokens == 8
    assert chunks[-2].choices[0].finish_reason == "stop"


async def test_stream_helper_accumulates_without_doubling(client: openai.AsyncOpenAI) -> None:
    async with client.chat.completions.stream(
        model="claude-sonnet-4-5",
        messages=[{"role": "system", "content": "be brief"}, {"role": "user", "content": "hello"}],
    ) as stream:
        final = await stream.get_final_completion()
    message = final.choices[0].message
    assert message.role == "assistant"
    assert message.content == (
        "Hello from the ag2api fake upstream (claude-sonnet-4-5)! You said: hello"
    )


async def test_crlf_framed_upstream_stream(client: openai.AsyncOpenAI, fake: FakeUpstream) -> None:
    fake.crlf = True
    stream = await client.chat.completions.create(
        model="gemini-2.5-flash", stream=True, messages=[{"role": "user", "content": "crlf"}]
    )
    text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
    assert text.endswith("You said: crlf")


async def test_upstream_connections_are_reused(
    client: openai.AsyncOpenAI, fake: FakeUpstream
) -> None:
    for i in range(5):
        await client.chat.completions.create(
            model="gemini-2.5-flash",
            stream=bool(i % 2),
            messages=[{"role": "user", "content": "again"}],
        )
    peers = {r.peer for r in fake.generate_requests()}
    assert len(fake.generate_requests()) == 5 and len(peers) == 1


async def test_many_open_streams_do_not_queue_behind_a_client_limit(
    client: openai.AsyncOpenAI, fake: FakeUpstream
) -> None:
    hold = asyncio.Event()
    n = 25  # well above Tornado's default max_clients of 10
    fake.script(*[Step(hold=hold, hold_after=1) for _ in range(n)])

    async def one() -> str:
        stream = await client.chat.completions.create(
            model="gemini-2.5-flash", stream=True, messages=[{"role": "user", "content": "q"}]
        )
        return "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])

    tasks = [asyncio.ensure_future(one()) for _ in range(n)]
    await fake.wait_generate_requests(n)  # all n upstream streams are open at once
    hold.set()
    assert all(t.endswith("You said: q") for t in await asyncio.gather(*tasks))
