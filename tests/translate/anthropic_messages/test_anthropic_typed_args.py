"""`tool_use` input carries the types the tool's schema declares, over `/v1/messages` too.

The Anthropic path shares the OpenAI path's schema adaptations (``typed_args``, applied for the
model family by ``models.families``): Gemini takes only string enum members, so ``[1, 2, 3]``
goes upstream as ``["1", "2", "3"]`` and the (fake) model answers ``"1"``; Claude's placeholder
property, added to every property-less object schema, is dropped wherever it was added — not
only at the top of the arguments.
"""

from __future__ import annotations

from typing import Any

import anthropic
import pytest

from ag2api.testing.fake_upstream import FakeUpstream

TYPED: Any = {
    "name": "set_level",
    "input_schema": {
        "type": "object",
        "properties": {
            "level": {"type": "integer", "enum": [1, 2, 3]},
            "exact": {"const": 42},
            "on": {"type": "boolean", "enum": [False, True]},
            "name": {"type": "string", "enum": ["a", "b"]},
            "maybe": {"anyOf": [{"type": "integer", "enum": [5, 6]}, {"type": "null"}]},
            "nested": {"type": "object", "properties": {"n": {"type": "number", "enum": [2.5]}}},
        },
        "required": ["level", "exact", "on", "name", "maybe", "nested"],
    },
}
TYPED_INPUT = {"level": 1, "exact": 42, "on": False, "name": "a", "maybe": 5, "nested": {"n": 2.5}}
EMPTY_NESTED: Any = {
    "name": "configure",
    "input_schema": {
        "type": "object",
        "properties": {"city": {"type": "string"}, "extra": {"type": "object"}},
    },
}


async def tool_input(
    client: anthropic.AsyncAnthropic, model: str, stream: bool, tool: Any
) -> dict[str, Any]:
    kw: Any = {
        "model": model,
        "max_tokens": 1000,
        "messages": [{"role": "user", "content": f"use {tool['name']} now"}],
        "tools": [tool],
    }
    if stream:
        async with client.messages.stream(**kw) as s:
            message = await s.get_final_message()
    else:
        message = await client.messages.create(**kw)
    (block,) = [b for b in message.content if b.type == "tool_use"]
    assert block.name == tool["name"] and message.stop_reason == "tool_use"
    return dict(block.input)  # type: ignore[arg-type]


@pytest.mark.parametrize("stream", [False, True], ids=["nonstream", "stream"])
@pytest.mark.parametrize("model", ["gemini-2.5-flash", "claude-sonnet-4-5"])
async def test_tool_use_input_gets_its_enum_types_back(
    claude: anthropic.AsyncAnthropic, fake: FakeUpstream, model: str, stream: bool
) -> None:
    assert await tool_input(claude, model, stream, TYPED) == TYPED_INPUT
    sent = fake.generate_requests()[-1].body["request"]["tools"][0]["functionDeclarations"][0]
    assert sent["parameters"]["properties"]["level"]["enum"] == ["1", "2", "3"]


@pytest.mark.parametrize("stream", [False, True], ids=["nonstream", "stream"])
async def test_nested_claude_placeholder_never_reaches_the_client(
    claude: anthropic.AsyncAnthropic, fake: FakeUpstream, stream: bool
) -> None:
    got = await tool_input(claude, "claude-sonnet-4-5", stream, EMPTY_NESTED)
    assert got == {"city": "city-value", "extra": {}}
    sent = fake.generate_requests()[-1].body["request"]["tools"][0]["functionDeclarations"][0]
    assert "reason" in sent["parameters"]["properties"]["extra"]["properties"]
