"""The deprecated ``functions`` / ``function_call`` pair, through the OpenAI
SDK and LangChain's ``JsonOutputFunctionsParser``: answered with ``function_call``, and replayed."""

from __future__ import annotations

import json
from typing import Any

import openai
import pytest
from langchain_core.output_parsers.openai_functions import JsonOutputFunctionsParser
from langchain_openai import ChatOpenAI

from ag2api.testing.fake_upstream import FakeUpstream
from tests.support.clients import API_KEY

WEATHER: Any = {
    "name": "get_weather",
    "description": "Current weather for a city",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}
MODELS = ["gemini-2.5-flash", "gemini-3-pro-high", "claude-sonnet-4-5"]


async def ask(client: openai.AsyncOpenAI, model: str, stream: bool, **extra: Any) -> Any:
    messages: Any = [{"role": "user", "content": "use get_weather for Paris"}]
    if not stream:
        done = await client.chat.completions.create(
            model=model, messages=messages, functions=[WEATHER], **extra
        )
        return done.choices[0]
    async with client.chat.completions.stream(
        model=model, messages=messages, functions=[WEATHER], **extra
    ) as s:
        final = await s.get_final_completion()
    return final.choices[0]


@pytest.mark.parametrize("stream", [False, True], ids=["nonstream", "stream"])
@pytest.mark.parametrize("model", MODELS)
async def test_functions_are_answered_with_function_call(
    client: openai.AsyncOpenAI, model: str, stream: bool
) -> None:
    choice = await ask(client, model, stream)
    assert choice.finish_reason == "function_call"
    assert choice.message.tool_calls is None
    call = choice.message.function_call
    assert call.name == "get_weather"
    assert json.loads(call.arguments) == {"city": "city-value"}


async def test_stream_sends_delta_function_call(client: openai.AsyncOpenAI) -> None:
    chunks = [
        c
        async for c in await client.chat.completions.create(
            model="gemini-2.5-flash",
            messages=[{"role": "user", "content": "use get_weather for Paris"}],
            functions=[WEATHER],
            stream=True,
        )
    ]
    calls = [c.choices[0].delta.function_call for c in chunks if c.choices]
    (call,) = [c for c in calls if c is not None]
    assert call.name == "get_weather" and json.loads(call.arguments or "") == {"city": "city-value"}
    assert all(c.choices[0].delta.tool_calls is None for c in chunks if c.choices)
    assert chunks[-1].choices[0].finish_reason == "function_call"


@pytest.mark.parametrize(
    ("function_call", "mode", "allowed"),
    [
        ("none", "NONE", None),
        ("auto", "AUTO", None),
        ({"name": "get_weather"}, "ANY", ["get_weather"]),
    ],
)
async def test_function_call_param_maps_to_tool_config(
    client: openai.AsyncOpenAI,
    fake: FakeUpstream,
    function_call: Any,
    mode: str,
    allowed: list[str] | None,
) -> None:
    choice = await ask(client, "gemini-2.5-flash", False, function_call=function_call)
    config = fake.generate_requests()[-1].body["request"]["toolConfig"]["functionCallingConfig"]
    assert config.get("mode") == mode and config.get("allowedFunctionNames") == allowed
    assert choice.finish_reason == ("stop" if mode == "NONE" else "function_call")


@pytest.mark.parametrize("model", MODELS)
async def test_history_function_call_is_replayed(
    client: openai.AsyncOpenAI, fake: FakeUpstream, model: str
) -> None:
    choice = await ask(client, model, False)
    history: list[Any] = [
        {"role": "user", "content": "use get_weather for Paris"},
        {"role": "assistant", "content": None, "function_call": choice.message.function_call},
        {"role": "function", "name": "get_weather", "content": '{"temp_c": 18}'},
    ]
    answer = await client.chat.completions.create(
        model=model, messages=history, functions=[WEATHER]
    )
    assert answer.choices[0].finish_reason == "stop"
    assert answer.choices[0].message.content == 'The tools said: [{"result":{"temp_c":18}}]'
    contents = fake.generate_requests()[-1].body["request"]["contents"]
    (call,) = [p["functionCall"] for c in contents for p in c["parts"] if "functionCall" in p]
    (result,) = [
        p["functionResponse"] for c in contents for p in c["parts"] if "functionResponse" in p
    ]
    assert call["name"] == result["name"] == "get_weather"
    assert call["args"] == {"city": "city-value"}
    assert call["id"] == result["id"]


async def test_langchain_json_output_functions_parser(base_url: str) -> None:
    llm = ChatOpenAI(
        base_url=base_url + "/v1",
        api_key=API_KEY,  # type: ignore[arg-type]
        model="gemini-2.5-flash",
        max_retries=0,
    )
    bound = llm.bind(functions=[WEATHER], function_call={"name": "get_weather"})
    chain = bound | JsonOutputFunctionsParser()
    assert await chain.ainvoke("weather in Paris?") == {"city": "city-value"}
    streamed = [part async for part in chain.astream("weather in Paris?")]
    assert streamed[-1] == {"city": "city-value"}
