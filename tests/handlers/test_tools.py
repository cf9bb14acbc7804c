"""Function calling through the OpenAI SDK: the multi-turn loop, parallel calls, tool_choice,
and thought signatures that survive the round trip (Gemini 3 and Claude thinking)."""

from __future__ import annotations

import json
from typing import Any

import openai
import pytest

from ag2api.models.families import SENTINEL
from ag2api.services import Services
from ag2api.testing.fake_upstream import FakeUpstream

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
            "additionalProperties": False,
        },
    },
}
TIME = {
    "type": "function",
    "function": {"name": "get_time", "parameters": {"type": "object", "properties": {}}},
}
MODELS = ["gemini-2.5-flash", "gemini-3-pro-high", "claude-sonnet-4-5-thinking"]


async def first_turn(
    client: openai.AsyncOpenAI,
    model: str,
    stream: bool,
    text: str,
    tools: list[dict[str, Any]],
    **extra: Any,
) -> Any:
    messages = [{"role": "user", "content": text}]
    if not stream:
        done = await client.chat.completions.create(
            model=model, messages=messages, tools=tools, **extra
        )
        return done.choices[0]
    async with client.chat.completions.stream(
        model=model, messages=messages, tools=tools, **extra
    ) as s:
        final = await s.get_final_completion()
    return final.choices[0]


@pytest.mark.parametrize("stream", [False, True], ids=["nonstream", "stream"])
@pytest.mark.parametrize("model", MODELS)
async def test_tool_loop_call_result_answer(
    client: openai.AsyncOpenAI, fake: FakeUpstream, model: str, stream: bool
) -> None:
    choice = await first_turn(client, model, stream, "use get_weather for Paris", [WEATHER])
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content in (None, "")
    (call,) = choice.message.tool_calls
    assert call.type == "function" and call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "city-value"}
    history = [
        {"role": "user", "content": "use get_weather for Paris"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [call.model_dump()],
            "reasoning_content": getattr(choice.message, "reasoning_content", None),
        },
        {"role": "tool", "tool_call_id": call.id, "content": '{"temp_c": 18}'},
    ]
    answer = await client.chat.completions.create(model=model, messages=history, tools=[WEATHER])
    assert answer.choices[0].finish_reason == "stop"
    assert answer.choices[0].message.content == 'The tools said: [{"result":{"temp_c":18}}]'
    replayed = fake.generate_requests()[-1].body["request"]
    model_turn = replayed["contents"][1]["parts"]
    call_part = next(p for p in model_turn if "functionCall" in p)
    if model.startswith("gemini-3"):
        # The real signature came back through the tool-call id, not the sentinel.
        assert call_part["thoughtSignature"] in fake.issued_signatures
    if model.startswith("claude"):
        assert model_turn[0]["thought"] is True  # the signed thinking block was replayed
        assert model_turn[0]["thoughtSignature"] in fake.issued_signatures
        assert replayed["generationConfig"]["thinkingConfig"]["includeThoughts"] is True
    visible = [
        p.get("text", "") for t in replayed["contents"] for p in t["parts"] if not p.get("thought")
    ]
    assert not [t for t in visible if "Thinking about" in t]  # reasoning never sent as text


async def test_gemini_signature_survives_a_restart(
    client: openai.AsyncOpenAI, fake: FakeUpstream, services: Services
) -> None:
    choice = await first_turn(client, "gemini-3-pro-high", False, "use get_weather", [WEATHER])
    call = choice.message.tool_calls[0]
    services.signatures._items.clear()  # nothing in memory: the id alone must carry it
    history = [
        {"role": "user", "content": "use get_weather"},
        {"role": "assistant", "tool_calls": [call.model_dump()]},
        {"role": "tool", "tool_call_id": call.id, "content": "sunny"},
    ]
    answer = await client.chat.completions.create(model="gemini-3-pro-high", messages=history)
    assert answer.choices[0].message.content == 'The tools said: [{"result":"sunny"}]'


async def test_unknown_call_ids_fall_back_safely(
    client: openai.AsyncOpenAI, fake: FakeUpstream, services: Services
) -> None:
    history = [
        {"role": "user", "content": "weather?"},
        {
            "role": "assistant",
            "tool_calls": [
                {
                    "id": "call_from_elsewhere",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": "{}"},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_from_elsewhere", "content": "sunny"},
    ]
    gemini = await client.chat.completions.create(model="gemini-3-pro-high", messages=history)
    assert gemini.choices[0].finish_reason == "stop"
    sent = fake.generate_requests()[-1].body["request"]["contents"][1]["parts"][0]
    assert sent["thoughtSignature"] == SENTINEL
    # Claude with thinking on and no known thinking block: answered without thinking.
    claude = await client.chat.completions.create(
        model="claude-sonnet-4-5-thinking", messages=history
    )
    assert claude.choices[0].finish_reason == "stop"
    assert "thinkingConfig" not in fake.generate_requests()[-1].body["request"].get(
        "generationConfig", {}
    )


@pytest.mark.parametrize("stream", [False, True], ids=["nonstream", "stream"])
async def test_parallel_calls(client: openai.AsyncOpenAI, stream: bool) -> None:
    choice = await first_turn(
        client, "gemini-3-pro-high", stream, "parallel: get_weather and get_time", [WEATHER, TIME]
    )
    calls = choice.message.tool_calls
    assert [c.function.name for c in calls] == ["get_weather", "get_time"]
    assert len({c.id for c in calls}) == 2
    assert json.loads(calls[1].function.arguments) == {}


async def test_streamed_tool_deltas_follow_the_openai_shape(client: openai.AsyncOpenAI) -> None:
    stream = await client.chat.completions.create(
        model="gemini-2.5-flash",
        stream=True,
        tools=[WEATHER, TIME],
        messages=[{"role": "user", "content": "parallel get_weather get_time"}],
    )
    deltas = [
        tc
        for chunk in [c async for c in stream]
        if chunk.choices
        for tc in chunk.choices[0].delta.tool_calls or []
    ]
    assert [d.index for d in deltas] == [0, 1]
    for d in deltas:
        assert d.id and d.type == "function" and d.function.name
        json.loads(d.function.arguments)


async def test_tool_choice_modes(client: openai.AsyncOpenAI, fake: FakeUpstream) -> None:
    required = await first_turn(
        client, "gemini-2.5-flash", False, "hello", [WEATHER, TIME], tool_choice="required"
    )
    assert required.message.tool_calls
    named = await first_turn(
        client,
        "gemini-2.5-flash",
        False,
        "parallel",
        [WEATHER, TIME],
        tool_choice={"type": "function", "function": {"name": "get_time"}},
    )
    assert [c.function.name for c in named.message.tool_calls] == ["get_time"]
    assert fake.generate_requests()[-1].body["request"]["toolConfig"] == {
        "functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["get_time"]}
    }
    none = await first_turn(
        client, "gemini-2.5-flash", False, "use get_weather", [WEATHER], tool_choice="none"
    )
    assert none.message.tool_calls is None and none.finish_reason == "stop"
    with pytest.raises(openai.BadRequestError) as info:
        await first_turn(
            client,
            "gemini-2.5-flash",
            False,
            "x",
            [WEATHER],
            tool_choice={"type": "function", "function": {"name": "nope"}},
        )
    assert info.value.param == "tool_choice"


async def test_claude_gets_validated_mode_and_non_empty_schemas(
    client: openai.AsyncOpenAI, fake: FakeUpstream
) -> None:
    choice = await first_turn(client, "claude-sonnet-4-5", False, "use get_time", [TIME])
    assert choice.message.tool_calls[0].id.startswith("toolu_")
    sent = fake.generate_requests()[-1].body["request"]
    assert sent["toolConfig"] == {"functionCallingConfig": {"mode": "VALIDATED"}}
    params = sent["tools"][0]["functionDeclarations"][0]["parameters"]
    assert params["properties"]  # a placeholder property, as VALIDATED requires


async def test_tool_result_for_an_unknown_call_is_400(client: openai.AsyncOpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        await client.chat.completions.create(
            model="gemini-2.5-flash",
            messages=[
                {"role": "user", "content": "x"},
                {"role": "tool", "tool_call_id": "call_nope", "content": "y"},
            ],
        )
    assert info.value.param == "messages"


async def test_legacy_functions_are_mapped(client: openai.AsyncOpenAI) -> None:
    done = await client.chat.completions.create(
        model="gemini-2.5-flash",
        messages=[{"role": "user", "content": "go"}],
        functions=[WEATHER["function"]],
        function_call={"name": "get_weather"},
    )
    # Answered in the legacy shape too (tests/handlers/test_legacy_functions.py).
    assert done.choices[0].message.function_call.name == "get_weather"


@pytest.mark.parametrize("stream", [False, True], ids=["nonstream", "stream"])
async def test_parallel_tool_calls_false_keeps_one_call(
    client: openai.AsyncOpenAI, stream: bool
) -> None:
    choice = await first_turn(
        client,
        "gemini-2.5-flash",
        stream,
        "parallel get_weather get_time",
        [WEATHER, TIME],
        parallel_tool_calls=False,
    )
    assert [c.function.name for c in choice.message.tool_calls] == ["get_weather"]
    assert choice.finish_reason == "tool_calls"
