"""Structured output, limits, stop, roles, reasoning_effort, aliases, unsupported knobs."""

from __future__ import annotations

import json
from typing import Any

import openai
import pytest
from pydantic import BaseModel

from ag2api.testing.fake_upstream import FakeUpstream
from tests.support.helpers import MSG


class City(BaseModel):
    name: str
    population: int


def sent(fake: FakeUpstream) -> dict[str, Any]:
    return fake.generate_requests()[-1].body


async def test_json_object_mode_gives_parseable_json(
    client: openai.AsyncOpenAI, fake: FakeUpstream
) -> None:
    done = await client.chat.completions.create(
        model="gemini-2.5-flash", messages=MSG, response_format={"type": "json_object"}
    )
    assert json.loads(done.choices[0].message.content or "") == {"answer": "hi"}
    assert sent(fake)["request"]["generationConfig"]["responseMimeType"] == "application/json"


async def test_parse_fills_message_parsed(client: openai.AsyncOpenAI, fake: FakeUpstream) -> None:
    done = await client.chat.completions.parse(
        model="gemini-2.5-flash", messages=MSG, response_format=City
    )
    assert done.choices[0].message.parsed == City(name="name-value", population=1)
    schema = sent(fake)["request"]["generationConfig"]["responseSchema"]
    assert "additionalProperties" not in schema and schema["required"] == ["name", "population"]


async def test_parse_raises_on_length(client: openai.AsyncOpenAI) -> None:
    with pytest.raises(openai.LengthFinishReasonError):
        await client.chat.completions.parse(
            model="gemini-2.5-flash", messages=MSG, response_format=City, max_completion_tokens=1
        )


@pytest.mark.parametrize("limit", ["max_tokens", "max_completion_tokens"])
async def test_token_limits_give_length(
    client: openai.AsyncOpenAI, fake: FakeUpstream, limit: str
) -> None:
    done = await client.chat.completions.create(
        model="gemini-2.5-flash", messages=MSG, **{limit: 3}
    )
    assert done.choices[0].finish_reason == "length"
    assert done.choices[0].message.content == "Hello from the"
    assert sent(fake)["request"]["generationConfig"]["maxOutputTokens"] == 3


@pytest.mark.parametrize("stop", ["fake", ["upstream", "fake"]])
async def test_stop_sequences_cut_the_answer(
    client: openai.AsyncOpenAI, stop: str | list[str]
) -> None:
    done = await client.chat.completions.create(model="gemini-2.5-flash", messages=MSG, stop=stop)
    content = done.choices[0].message.content or ""
    assert content.startswith("Hello from the ag2api") and "fake" not in content


async def test_roles_and_array_content_everywhere(
    client: openai.AsyncOpenAI, fake: FakeUpstream
) -> None:
    parts = [{"type": "text", "text": "part one"}, {"type": "text", "text": "part two"}]
    done = await client.chat.completions.create(
        model="gemini-2.5-flash",
        messages=[
            {"role": "system", "content": parts},
            {"role": "developer", "content": "be nice"},
            {"role": "user", "content": parts},
            {
                "role": "assistant",
                "content": parts,
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "f", "arguments": "{}"},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "call_1", "content": parts},
            {"role": "user", "content": "last"},
        ],
    )
    assert done.choices[0].finish_reason == "stop"
    request = sent(fake)["request"]
    assert [p["text"] for p in request["systemInstruction"]["parts"]] == [
        "part one",
        "part two",
        "be nice",
    ]
    assert [t["role"] for t in request["contents"]] == ["user", "model", "user"]


async def test_reasoning_effort_streams_reasoning_before_content(
    client: openai.AsyncOpenAI, fake: FakeUpstream
) -> None:
    stream = await client.chat.completions.create(
        model="claude-sonnet-4-5",
        messages=MSG,
        stream=True,
        reasoning_effort="high",
        stream_options={"include_usage": True},
    )
    chunks = [c async for c in stream]
    kinds = [
        ("r" if getattr(c.choices[0].delta, "reasoning_content", None) else "c")
        for c in chunks
        if c.choices
        and (c.choices[0].delta.content or getattr(c.choices[0].delta, "reasoning_content", None))
    ]
    assert kinds == ["r", "r", "c", "c", "c"]
    assert chunks[-1].usage.completion_tokens_details.reasoning_tokens > 0
    assert sent(fake)["request"]["generationConfig"]["thinkingConfig"] == {
        "includeThoughts": True,
        "thinkingBudget": 24576,
    }


@pytest.mark.parametrize(
    ("model", "effort", "expected"),
    [
        ("gemini-3-pro-high", "low", {"includeThoughts": True, "thinkingLevel": "low"}),
        ("gemini-3-pro-high", "medium", {"includeThoughts": True, "thinkingLevel": "high"}),
        ("gemini-2.5-flash", "medium", {"includeThoughts": True, "thinkingBudget": 8192}),
        ("gemini-2.5-flash", "none", {"includeThoughts": False, "thinkingBudget": 0}),
        ("claude-sonnet-4-5-thinking", "none", None),
    ],
)
async def test_reasoning_effort_per_family(
    client: openai.AsyncOpenAI, fake: FakeUpstream, model: str, effort: str, expected: Any
) -> None:
    done = await client.chat.completions.create(model=model, messages=MSG, reasoning_effort=effort)  # type: ignore[arg-type]
    assert done.choices[0].finish_reason == "stop"
    gen = sent(fake)["request"].get("generationConfig", {})
    assert gen.get("thinkingConfig") == expected
    has_reasoning = getattr(done.choices[0].message, "reasoning_content", None) is not None
    assert has_reasoning == bool(expected and expected["includeThoughts"])


@pytest.mark.parametrize(
    ("model", "extra", "param"),
    [
        ("gemini-2.5-flash", {"reasoning_effort": "extreme"}, "reasoning_effort"),
        ("claude-sonnet-4-5", {"presence_penalty": 0.5}, "presence_penalty"),
        ("gemini-3-pro-high", {"frequency_penalty": 1}, "frequency_penalty"),
        ("claude-sonnet-4-5", {"seed": 7}, "seed"),
        ("gemini-2.5-flash", {"logprobs": True}, "logprobs"),
        ("gemini-2.5-flash", {"n": 3}, "n"),
    ],
)
async def test_unsupported_knobs_are_400_naming_the_param(
    client: openai.AsyncOpenAI, model: str, extra: dict[str, Any], param: str
) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        await client.chat.completions.create(model=model, messages=MSG, **extra)
    assert info.value.param == param


async def test_supported_knobs_are_mapped(client: openai.AsyncOpenAI, fake: FakeUpstream) -> None:
    await client.chat.completions.create(
        model="gemini-2.5-flash",
        messages=MSG,
        seed=5,
        presence_penalty=0.5,
        frequency_penalty=0,
        top_p=0.5,
        temperature=0.3,
    )
    gen = sent(fake)["request"]["generationConfig"]
    assert {k: gen[k] for k in ("seed", "presencePenalty", "topP", "temperature")} == {
        "seed": 5,
        "presencePenalty": 0.5,
        "topP": 0.5,
        "temperature": 0.3,
    }
    assert "frequencyPenalty" not in gen


@pytest.mark.parametrize(
    "config_overrides",
    [{"models": {"aliases": {"gpt-4o": "gemini-2.5-flash", "gpt-4o-mini": "claude-sonnet-4-5"}}}],
)
async def test_aliases_are_listed_and_resolved(
    client: openai.AsyncOpenAI, fake: FakeUpstream, config_overrides: dict[str, Any]
) -> None:
    ids = [m.id async for m in client.models.list()]
    assert ids[-2:] == ["gpt-4o", "gpt-4o-mini"]
    assert (await client.models.retrieve("gpt-4o-mini")).owned_by == "anthropic"
    done = await client.chat.completions.create(model="gpt-4o", messages=MSG)
    assert done.model == "gpt-4o"
    assert sent(fake)["model"] == "gemini-2.5-flash"
