"""`/v1/messages` through the real Anthropic SDK: create (stream and not), the stream helper,
images, usage accounting, and Claude Code's side routes."""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

import anthropic
import pytest
from prometheus_client.parser import text_string_to_metric_families

from ag2api.observe.usage import query_usage
from ag2api.services import Services
from ag2api.testing import fake_bodies as bodies
from ag2api.testing.fake_model import PNG_B64
from ag2api.testing.fake_upstream import FakeUpstream, Step
from tests.support.clients import API_KEY, anthropic_sdk
from tests.support.http import fetch

MODEL = "gemini-2.5-flash"
HI = [{"role": "user", "content": "hi"}]


async def test_create_plain_and_streamed(
    claude: anthropic.AsyncAnthropic, fake: FakeUpstream
) -> None:
    plain = await claude.messages.create(model=MODEL, max_tokens=1000, messages=HI)
    assert plain.type == "message" and plain.role == "assistant" and plain.model == MODEL
    assert plain.id.startswith("msg_") and plain.stop_reason == "end_turn"
    # No `thinking` field: the model policy's (Gemini thinks by default, conf/gateway.yaml).
    assert [b.type for b in plain.content] == ["thinking", "text"]
    assert plain.content[0].signature.startswith("ag2:gemini:")  # type: ignore[union-attr]
    assert plain.content[1].text.endswith("You said: hi")  # type: ignore[union-attr]
    assert plain.usage.input_tokens > 0 and plain.usage.output_tokens == 10 + 8

    events = [
        e
        async for e in await claude.messages.create(
            model=MODEL, max_tokens=1000, messages=HI, stream=True
        )
    ]
    kinds = [e.type for e in events]
    assert kinds[0] == "message_start" and kinds[-2:] == ["message_delta", "message_stop"]
    text = "".join(
        e.delta.text
        for e in events
        if e.type == "content_block_delta" and e.delta.type == "text_delta"  # type: ignore[union-attr]
    )
    assert text == plain.content[1].text  # type: ignore[union-attr]
    # The upstream saw the streaming endpoint for the second call only.
    paths = [r.path.split("?")[0] for r in fake.generate_requests()]
    assert paths == ["/v1internal:generateContent", "/v1internal:streamGenerateContent"]


async def test_stream_helper_final_message_with_thinking(claude: anthropic.AsyncAnthropic) -> None:
    async with claude.messages.stream(
        model="claude-sonnet-4-5-thinking",
        max_tokens=4096,
        thinking={"type": "enabled", "budget_tokens": 2048},
        messages=[{"role": "user", "content": "think first"}],
    ) as stream:
        texts = [t async for t in stream.text_stream]
        final = await stream.get_final_message()
    assert [b.type for b in final.content] == ["thinking", "text"]
    thinking = final.content[0]
    assert thinking.thinking == "Thinking about what the user said: think first"  # type: ignore[union-attr]
    assert thinking.signature.startswith("ag2:claude:")  # type: ignore[union-attr]
    answer = final.content[1].text  # type: ignore[union-attr]
    assert "".join(texts) == answer and answer.endswith("You said: think first")
    assert final.stop_reason == "end_turn"
    assert final.usage.output_tokens == len(answer.split()) + 8  # the answer plus the thinking


async def test_beta_query_and_long_context_suffix_are_accepted(
    claude: anthropic.AsyncAnthropic, fake: FakeUpstream
) -> None:
    done = await claude.beta.messages.create(  # posts to /v1/messages?beta=true
        model="claude-sonnet-4-5-thinking[1m]",
        max_tokens=1000,
        messages=HI,
        betas=["context-1m-2025-08-07"],
    )
    assert done.model == "claude-sonnet-4-5-thinking"
    assert fake.generate_requests()[-1].body["model"] == "claude-sonnet-4-5-thinking"


LOOPBACK_OK = {"images": {"allow_private": True, "max_bytes": 1024 * 1024}}


@pytest.mark.parametrize("config_overrides", [LOOPBACK_OK])
async def test_images_base64_and_url(
    claude: anthropic.AsyncAnthropic, fake: FakeUpstream, config_overrides: dict[str, Any]
) -> None:
    done = await claude.messages.create(
        model=MODEL,
        max_tokens=1000,
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "what are these?"},
                    {
                        "type": "image",
                        "source": {"type": "base64", "media_type": "image/png", "data": PNG_B64},
                    },
                    {
                        "type": "image",
                        "source": {"type": "url", "url": fake.url + "/files/cat.png"},
                    },
                ],
            }
        ],
    )
    assert done.content[-1].text.endswith("I see 2 image(s): image/png, image/png.")  # type: ignore[union-attr]
    parts = fake.generate_requests()[-1].body["request"]["contents"][0]["parts"]
    images = [p["inlineData"] for p in parts if "inlineData" in p]
    assert [base64.b64decode(i["data"]) for i in images] == [base64.b64decode(PNG_B64)] * 2


async def test_url_image_from_a_private_address_is_refused(
    claude: anthropic.AsyncAnthropic, fake: FakeUpstream
) -> None:
    with pytest.raises(anthropic.BadRequestError) as info:
        await claude.messages.create(
            model=MODEL,
            max_tokens=100,
            messages=[
                {
                    "role": "user",
                    "content": [
                        {"type": "image", "source": {"type": "url", "url": fake.url + "/files/a"}}
                    ],
                }
            ],
        )
    assert info.value.body["error"]["type"] == "invalid_request_error"  # type: ignore[index]
    assert "refused" in info.value.message and fake.generate_requests() == []


def cached_answer(model: str) -> list[dict[str, Any]]:
    usage = {
        "promptTokenCount": 1000,
        "cachedContentTokenCount": 800,
        "candidatesTokenCount": 5,
        "thoughtsTokenCount": 7,
        "totalTokenCount": 1012,
    }
    return [
        bodies.response_event([{"text": "cached hello"}], model=model, response_id="r1"),
        bodies.response_event(
            [{"text": ""}], model=model, response_id="r1", finish="STOP", usage=usage
        ),
    ]


async def test_usage_cache_reads_and_statistics(
    claude: anthropic.AsyncAnthropic,
    fake: FakeUpstream,
    services: Services,
    base_url: str,
    request_lines: list[dict[str, Any]],
) -> None:
    fake.script(Step(events=cached_answer(MODEL)), Step(events=cached_answer(MODEL)))
    plain = await claude.messages.create(model=MODEL, max_tokens=100, messages=HI)
    async with claude.messages.stream(model=MODEL, max_tokens=100, messages=HI) as stream:
        streamed = await stream.get_final_message()
    for message in (plain, streamed):
        u = message.usage
        assert (u.input_tokens, u.cache_read_input_tokens, u.cache_creation_input_tokens) == (
            200,
            800,
            0,
        )
        assert u.output_tokens == 12  # thinking included
    lines = [line for line in request_lines if line["path"] == "/v1/messages"]
    assert [(line["stream"], line["tokens_in"], line["tokens_out"]) for line in lines] == [
        (False, 1000, 12),
        (True, 1000, 12),
    ]
    assert all(line["model"] == MODEL and line["key"] == "tests" for line in lines)
    await services.usage.flush()
    rows = await services.usage.run(lambda db: query_usage(db, group_by=("model",)))
    assert rows == [
        {
            "model": MODEL,
            "requests": 2,
            "prompt_tokens": 2000,
            "completion_tokens": 24,
            "reasoning_tokens": 14,
            "errors": 0,
            "credit_requests": 0,
            "fallback_requests": 0,
        }
    ]
    metrics = (await fetch(base_url + "/metrics")).body.decode()
    counted = {
        (s.labels["route"], s.labels["status"], s.labels["stream"]): s.value
        for f in text_string_to_metric_families(metrics)
        if f.name == "ag2api_requests"
        for s in f.samples
        if s.name.endswith("_total")
    }
    assert counted == {("messages", "200", "false"): 1, ("messages", "200", "true"): 1}


async def test_hello_probe_event_logging_and_anthropic_model_list(
    base_url: str, fake: FakeUpstream
) -> None:
    hello = await fetch(base_url + "/api/hello", method="HEAD")
    assert hello.code == 200
    logged = await fetch(
        base_url + "/api/event_logging/batch",
        method="POST",
        body=json.dumps({"events": []}),
        headers={"x-api-key": API_KEY},
    )
    assert logged.code == 200
    listed = await fetch(
        base_url + "/v1/models?limit=1000",
        headers={"x-api-key": API_KEY, "anthropic-version": "2023-06-01"},
    )
    page = json.loads(listed.body)
    assert page["has_more"] is False and page["first_id"] == page["data"][0]["id"]
    entry = next(e for e in page["data"] if e["id"] == "claude-sonnet-4-5-thinking")
    assert entry["type"] == "model" and entry["display_name"] == "Claude Sonnet 4.5 Thinking"
    assert entry["created_at"].endswith("Z")
    openai_shape = json.loads(
        (await fetch(base_url + "/v1/models", headers={"x-api-key": API_KEY})).body
    )
    assert openai_shape["object"] == "list"
    async with anthropic_sdk(base_url) as claude:  # the SDK's own model listing reads this shape
        ids = [m.id async for m in claude.models.list()]
    assert "claude-sonnet-4-5-thinking" in ids


async def test_concurrent_streams_do_not_mix(claude: anthropic.AsyncAnthropic) -> None:
    async def ask(word: str) -> str:
        async with claude.messages.stream(
            model=MODEL, max_tokens=100, messages=[{"role": "user", "content": word}]
        ) as stream:
            return (await stream.get_final_message()).content[-1].text  # type: ignore[union-attr]

    answers = await asyncio.gather(*(ask(f"w{i}") for i in range(4)))
    assert [a.rsplit(" ", 1)[-1] for a in answers] == ["w0", "w1", "w2", "w3"]


async def test_documents_rich_tool_results_and_server_tools(
    claude: anthropic.AsyncAnthropic, fake: FakeUpstream
) -> None:
    pdf = base64.b64encode(b"%PDF-1.4 fake").decode()
    image = {
        "type": "image",
        "source": {"type": "base64", "media_type": "image/png", "data": PNG_B64},
    }
    done = await claude.messages.create(
        model="claude-sonnet-4-5",
        max_tokens=1000,
        tools=[{"name": "Read", "input_schema": {"type": "object", "properties": {}}}],
        messages=[
            {
                "role": "user",
                "content": [
                    {
                        "type": "document",
                        "source": {"type": "base64", "media_type": "application/pdf", "data": pdf},
                    },
                    {"type": "text", "text": "Read it"},
                ],
            },
            {
                "role": "assistant",
                "content": [{"type": "tool_use", "id": "toolu_01", "name": "Read", "input": {}}],
            },
            {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": "toolu_01",
                        "is_error": True,
                        "content": [{"type": "text", "text": "no such file"}, image],
                    }
                ],
            },
        ],
    )
    assert done.stop_reason == "end_turn"
    contents = fake.generate_requests()[-1].body["request"]["contents"]
    assert contents[0]["parts"][0] == {"inlineData": {"mimeType": "application/pdf", "data": pdf}}
    result, picture = contents[2]["parts"]
    assert result["functionResponse"] == {
        "id": "toolu_01",
        "name": "Read",
        "response": {"error": "no such file"},
    }
    assert picture == {"inlineData": {"mimeType": "image/png", "data": PNG_B64}}
    # Claude Code's WebSearch tool: Google Search for a Gemini model with no function tools.
    await claude.messages.create(
        model=MODEL,
        max_tokens=100,
        tools=[{"type": "web_search_20250305", "name": "web_search", "max_uses": 8}],
        messages=HI,
    )
    assert fake.generate_requests()[-1].body["request"]["tools"] == [{"googleSearch": {}}]
