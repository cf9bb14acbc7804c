"""Answers carry the types the client's schema declares.

Gemini's schema takes only string enum members, so the gateway sends ``Literal[1, 2, 3]`` as
``["1", "2", "3"]`` and the (fake) model answers ``"1"``; the client must get ``1`` back, in tool
arguments and in structured output, streamed or not. Claude's placeholder property (added to
tools without parameters) never reaches the client.
"""

from __future__ import annotations

import json
from typing import Any, Literal

import openai
import pytest
from pydantic import BaseModel

from ag2api.testing.fake_upstream import FakeUpstream


class Choice(BaseModel):
    model_config = {"extra": "forbid"}

    level: Literal[1, 2, 3]
    ratio: Literal[0.5, 1.5]  # type: ignore[valid-type]
    flag: Literal[True]
    mode: Literal["fast", "slow"]
    levels: list[Literal[7, 8]]


EXPECTED = {"level": 1, "ratio": 0.5, "flag": True, "mode": "fast", "levels": [7]}
TYPED_TOOL: Any = {
    "type": "function",
    "function": {
        "name": "set_level",
        "parameters": {
            "type": "object",
            "properties": {
                "level": {"type": "integer", "enum": [1, 2, 3]},
                "exact": {"const": 42},
                "on": {"type": "boolean", "enum": [False, True]},
                "name": {"type": "string", "enum": ["a", "b"]},
                "maybe": {"anyOf": [{"type": "integer", "enum": [5, 6]}, {"type": "null"}]},
                "nested": {
                    "type": "object",
                    "properties": {"n": {"type": "number", "enum": [2.5]}},
                },
            },
            "required": ["level", "exact", "on", "name", "maybe", "nested"],
        },
    },
}
TYPED_ARGS = {"level": 1, "exact": 42, "on": False, "name": "a", "maybe": 5, "nested": {"n": 2.5}}
NO_PARAMS: Any = {"type": "function", "function": {"name": "get_time", "description": "the time"}}
EMPTY_NESTED: Any = {
    "type": "function",
    "function": {
        "name": "configure",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "extra": {"type": "object"}},
        },
    },
}
OWN_REASON: Any = {
    "type": "function",
    "function": {
        "name": "explain",
        "parameters": {"type": "object", "properties": {"reason": {"type": "string"}}},
    },
}
MODELS = ["gemini-2.5-flash", "claude-sonnet-4-5"]


async def call_args(client: openai.AsyncOpenAI, model: str, stream: bool, tool: Any) -> Any:
    name = tool["function"]["name"]
    messages: Any = [{"role": "user", "content": f"use {name} now"}]
    if stream:
        async with client.chat.completions.stream(
            model=model, messages=messages, tools=[tool]
        ) as s:
            message = (await s.get_final_completion()).choices[0].message
    else:
        done = await client.chat.completions.create(model=model, messages=messages, tools=[tool])
        message = done.choices[0].message  # type: ignore[assignment]
    (call,) = message.tool_calls or []
    assert call.function.name == name
    return dict(json.loads(call.function.arguments))


@pytest.mark.parametrize("stream", [False, True], ids=["nonstream", "stream"])
@pytest.mark.parametrize("model", MODELS)
async def test_tool_arguments_get_their_enum_types_back(
    client: openai.AsyncOpenAI, fake: FakeUpstream, model: str, stream: bool
) -> None:
    assert await call_args(client, model, stream, TYPED_TOOL) == TYPED_ARGS
    sent = fake.generate_requests()[-1].body["request"]["tools"][0]["functionDeclarations"][0]
    assert sent["parameters"]["properties"]["level"]["enum"] == ["1", "2", "3"]  # upstream: text


@pytest.mark.parametrize("stream", [False, True], ids=["nonstream", "stream"])
async def test_structured_output_parses_literal_numbers(
    client: openai.AsyncOpenAI, stream: bool
) -> None:
    messages: Any = [{"role": "user", "content": "pick"}]
    if stream:
        async with client.chat.completions.stream(
            model="gemini-2.5-flash", messages=messages, response_format=Choice
        ) as s:
            message = (await s.get_final_completion()).choices[0].message
    else:
        done = await client.chat.completions.parse(
            model="gemini-2.5-flash", messages=messages, response_format=Choice
        )
        message = done.choices[0].message
    assert message.parsed == Choice.model_validate(EXPECTED)
    assert json.loads(message.content or "") == EXPECTED


@pytest.mark.parametrize("stream", [False, True], ids=["nonstream", "stream"])
async def test_claude_placeholder_never_reaches_the_client(
    client: openai.AsyncOpenAI, fake: FakeUpstream, stream: bool
) -> None:
    model = "claude-sonnet-4-5"
    assert await call_args(client, model, stream, NO_PARAMS) == {}
    assert await call_args(client, model, stream, EMPTY_NESTED) == {
        "city": "city-value",
        "extra": {},
    }
    sent = fake.generate_requests()[-1].body["request"]["tools"][0]["functionDeclarations"][0]
    assert "reason" in sent["parameters"]["properties"]["extra"]["properties"]
    # A property the client declared itself, even with that name, is kept.
    assert await call_args(client, model, stream, OWN_REASON) == {"reason": "reason-value"}
