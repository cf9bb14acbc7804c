"""``/v1/responses`` through the real OpenAI SDK and raw HTTP: create, the stream
helper, structured output, function and custom tool loops whose signatures survive a restart,
``previous_response_id`` with the store, GET/DELETE, and errors before and after the first byte.
Every raw stream goes through the stream checker (``tests/support/responses_sse_rules.py``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import openai
import pytest
from pydantic import BaseModel

from ag2api.observe.usage import query_usage
from ag2api.services import Services
from ag2api.testing import fake_bodies as bodies
from ag2api.testing.fake_upstream import FakeUpstream, Step
from ag2api.translate.openai_responses import compaction
from tests.support.clients import API_KEY, openai_sdk
from tests.support.gateways import gateway
from tests.support.http import fetch
from tests.support.responses_sse_rules import check, parse
from tests.support.upstream import replayed_calls, upstream_request

GEMINI3 = "gemini-3-pro-high"
CLAUDE = "claude-sonnet-4-5-thinking"
WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "Current weather for a city",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
        "additionalProperties": False,
    },
    "strict": True,
}
APPLY_PATCH = {
    "type": "custom",
    "name": "apply_patch",
    "description": "Edit files with a patch.",
    "format": {
        "type": "grammar",
        "syntax": "lark",
        "definition": 'start: "*** Begin Patch" LF hunk+ "*** End Patch"',
    },
}


def as_input(output: list[Any]) -> list[dict[str, Any]]:
    """The SDK's output items replayed as input, the way agent loops do."""
    return [item.model_dump(exclude_none=True) for item in output]


async def test_create_stream_helper_and_parse(
    client: openai.AsyncOpenAI, fake: FakeUpstream, request_lines: list[dict[str, Any]]
) -> None:
    plain = await client.responses.create(
        model="gemini-2.5-flash", input="hi there", instructions="Be brief."
    )
    assert plain.status == "completed" and plain.id.startswith("resp_")
    assert plain.output_text.endswith("You said: hi there")
    assert plain.usage is not None and plain.usage.input_tokens > 0
    assert plain.usage.output_tokens_details.reasoning_tokens >= 0

    fake.script(Step(status=429, body=bodies.QUOTA_EXHAUSTED))  # fails over before a byte
    async with client.responses.stream(
        model="gemini-2.5-flash", input="stream me", reasoning={"summary": "auto"}
    ) as stream:
        kinds = [event.type async for event in stream]
        final = await stream.get_final_response()
    assert kinds[0] == "response.created" and kinds[-1] == "response.completed"
    assert [item.type for item in final.output] == ["reasoning", "message"]
    assert final.output[0].summary[0].text.startswith("Thinking about")  # type: ignore[union-attr]
    assert final.output_text.endswith("You said: stream me")
    logged = [line for line in request_lines if line["path"] == "/v1/responses"]
    assert [line["status"] for line in logged] == [200, 200]
    assert logged[1]["attempts"] == 2 and logged[1]["stream"] is True
    assert all(line["tokens_in"] > 0 and line["tokens_out"] > 0 for line in logged)

    class Forecast(BaseModel):
        city: str
        days: int

    parsed = await client.responses.parse(
        model="gemini-2.5-flash", input="forecast for Paris", text_format=Forecast
    )
    assert parsed.output_parsed == Forecast(city="city-value", days=1)


async def test_raw_stream_follows_the_event_sequence(base_url: str, fake: FakeUpstream) -> None:
    answer = await fetch(
        base_url + "/v1/responses",
        key=API_KEY,
        body={
            "model": GEMINI3,
            "input": "please call get_weather",
            "tools": [WEATHER],
            "reasoning": {"effort": "high", "summary": "auto"},
            "stream": True,
        },
    )
    assert answer.code == 200 and answer.headers["Content-Type"].startswith("text/event-stream")
    response = check(parse(answer.body))
    kinds = [item["type"] for item in response["output"]]
    assert kinds == ["reasoning", "function_call"]
    assert response["output"][0]["encrypted_content"].startswith("ag2r:gemini:")
    assert b"[DONE]" not in answer.body


@pytest.mark.parametrize("model", [GEMINI3, CLAUDE])
async def test_function_tool_loop_across_a_restart(
    client: openai.AsyncOpenAI, fake: FakeUpstream, config_path: Path, model: str
) -> None:
    history: list[Any] = [{"role": "user", "content": "please call get_weather"}]
    async with client.responses.stream(
        model=model, input=history, tools=[WEATHER], store=False
    ) as stream:
        first = await stream.get_final_response()
    calls = [item for item in first.output if item.type == "function_call"]
    assert [(c.name, json.loads(c.arguments)) for c in calls] == [
        ("get_weather", {"city": "city-value"})
    ]
    reasoning = [item for item in first.output if item.type == "reasoning"]
    assert reasoning and reasoning[0].encrypted_content  # the signatures travel with the client
    history += as_input(first.output)
    history.append({"type": "function_call_output", "call_id": calls[0].call_id, "output": "22C"})
    async with gateway(config_path) as gw_restarted:  # nothing survives but the client's history
        restarted = gw_restarted.client
        second = await restarted.responses.create(
            model=model, input=history, tools=[WEATHER], store=False
        )
    assert second.output_text == 'The tools said: [{"result":"22C"}]'
    replay = upstream_request(fake, 1)
    if model == CLAUDE:
        model_turn = next(t for t in replay["contents"] if t["role"] == "model")
        assert model_turn["parts"][0]["thoughtSignature"] in fake.claude_thinking
        assert "functionCall" in model_turn["parts"][1]
    else:
        assert replayed_calls(replay)[0]["thoughtSignature"] in fake.issued_signatures


async def test_custom_tool_round_trip(client: openai.AsyncOpenAI, fake: FakeUpstream) -> None:
    first = await client.responses.create(
        model="gemini-2.5-flash", input="please use apply_patch", tools=[APPLY_PATCH]
    )
    call = first.output[-1]
    assert call.type == "custom_tool_call" and call.name == "apply_patch"
    assert call.input == "input-value"  # the raw input, not a JSON object
    declared = upstream_request(fake, 0)["tools"][0]["functionDeclarations"][0]
    assert "Begin Patch" in declared["parameters"]["properties"]["input"]["description"]
    second = await client.responses.create(
        model="gemini-2.5-flash",
        input=[
            {"role": "user", "content": "please use apply_patch"},
            *as_input(first.output),
            {"type": "custom_tool_call_output", "call_id": call.call_id, "output": "Done!"},
        ],
        tools=[APPLY_PATCH],
    )
    assert second.output_text == 'The tools said: [{"result":"Done!"}]'
    replayed = replayed_calls(upstream_request(fake, 1))
    assert replayed[0]["functionCall"]["args"] == {"input": "input-value"}


async def test_previous_response_id_get_and_delete(
    client: openai.AsyncOpenAI, fake: FakeUpstream
) -> None:
    first = await client.responses.create(model="gemini-2.5-flash", input="my name is Ada")
    second = await client.responses.create(
        model="gemini-2.5-flash", input="what is my name?", previous_response_id=first.id
    )
    assert second.previous_response_id == first.id
    texts = [p["text"] for t in upstream_request(fake, 1)["contents"] for p in t["parts"]]
    assert texts[0] == "my name is Ada" and texts[-1] == "what is my name?"
    assert "You said: my name is Ada" in texts[1]  # the stored answer came back as a model turn

    fetched = await client.responses.retrieve(second.id)
    assert fetched.id == second.id and fetched.output_text == second.output_text
    items = await client.responses.input_items.list(second.id, order="asc")
    # The first input, the first answer (thoughts, then text), the new input.
    assert [i.type for i in items.data] == ["message", "reasoning", "message", "message"]
    assert items.data[0].id != items.data[-1].id
    await client.responses.delete(first.id)
    with pytest.raises(openai.NotFoundError) as gone:
        await client.responses.retrieve(first.id)
    assert gone.value.code == "not_found"
    with pytest.raises(openai.BadRequestError) as unknown:
        await client.responses.create(
            model="gemini-2.5-flash", input="again", previous_response_id=first.id
        )
    assert unknown.value.code == "previous_response_not_found"
    assert unknown.value.param == "previous_response_id"
    unstored = await client.responses.create(model="gemini-2.5-flash", input="x", store=False)
    with pytest.raises(openai.NotFoundError):
        await client.responses.retrieve(unstored.id)


@pytest.mark.parametrize("config_overrides", [{"server": {"keepalive": 0.05}}])
async def test_errors_before_and_after_the_first_byte(
    client: openai.AsyncOpenAI, base_url: str, fake: FakeUpstream, config_overrides: Any
) -> None:
    thirty = json.loads(
        json.dumps(bodies.RATE_LIMITED)
        .replace("0.479417207s", "30s")
        .replace("479.417207ms", "30s")
    )
    fake.script(*[Step(status=429, body=thirty)] * 3)
    with pytest.raises(openai.RateLimitError) as limited:
        await client.responses.create(model="gemini-2.5-flash", input="hi")
    assert limited.value.code == "rate_limit_exceeded"
    assert limited.value.response.headers["Retry-After"] == "30"

    # (Every account now cools for gemini-2.5-flash: the next cases use other models.)
    # A stream cut after its first event ends in response.failed, never a silent close.
    fake.script(Step(drop_after=2))
    cut = await fetch(
        base_url + "/v1/responses",
        key=API_KEY,
        body={"model": GEMINI3, "input": "hi", "stream": True},
    )
    failed = check(parse(cut.body))
    assert failed["status"] == "failed" and failed["error"]["code"] == "server_error"

    # Limited everywhere after a keepalive committed the stream: response.failed with the delay
    # Codex reads ("try again in N s") and the code it retries on.
    fake.script(Step(status=429, body=thirty, delay=0.3))
    late = await fetch(
        base_url + "/v1/responses",
        key=API_KEY,
        body={"model": "claude-sonnet-4-5", "input": "hi", "stream": True},
    )
    assert late.code == 200 and b": keepalive" in late.body
    error = check(parse(late.body))["error"]
    assert error["code"] == "rate_limit_exceeded" and "try again in" in error["message"]


async def test_compact_endpoint_with_the_sdk(
    client: openai.AsyncOpenAI, fake: FakeUpstream, base_url: str
) -> None:
    """``POST /v1/responses/compact`` (``client.responses.compact``; Codex for a provider named
    "OpenAI"): the user messages, then one compaction item whose summary the next turn gets."""
    history = [
        {"role": "user", "content": "plan a trip to Lisbon"},
        {"role": "assistant", "content": "Sure: three days, trams and pastries."},
    ]
    # OpenAI's compacted output starts with the user messages (input_text, role user), which
    # the SDK's strict output types have no member for: read it as SDK users do, not strictly.
    lenient = openai_sdk(base_url)
    try:
        compacted = await lenient.responses.compact(model="gemini-2.5-flash", input=history)  # type: ignore[arg-type]
    finally:
        await lenient.close()
    assert compacted.object == "response.compaction"
    kinds = [item.type for item in compacted.output]
    assert kinds == ["message", "compaction"]
    assert compacted.output[0].role == "user"  # type: ignore[union-attr]
    assert compacted.usage is not None and compacted.usage.input_tokens > 0
    sent = upstream_request(fake, -1)
    assert sent["contents"][-1]["parts"][-1] == {"text": compaction.PROMPT}
    item = compacted.output[1].model_dump(exclude_none=True)
    assert item["type"] == "compaction" and item["id"].startswith("cmp_")
    summary = compaction.unpack(item["encrypted_content"])
    assert summary is not None and "ag2api fake upstream" in summary
    # The next turn continues from the compacted output.
    follow = await client.responses.create(
        model="gemini-2.5-flash",
        input=[*as_input(compacted.output), {"role": "user", "content": "and the budget?"}],
        store=False,
    )
    assert follow.status == "completed"
    texts = [p.get("text", "") for c in upstream_request(fake, -1)["contents"] for p in c["parts"]]
    assert compaction.SUMMARY_INTRO + summary in texts
    with pytest.raises(openai.BadRequestError) as info:
        await client.post(
            "/responses/compact",
            body={"model": "gemini-2.5-flash", "input": history, "stream": True},
            cast_to=dict,
        )
    assert info.value.body["param"] == "stream"  # type: ignore[index]


async def test_compact_without_a_summary_is_a_502_and_still_counted(
    client: openai.AsyncOpenAI, fake: FakeUpstream, services: Services
) -> None:
    thought_only = bodies.response_event(
        [{"text": "hmm", "thought": True}],
        model="gemini-2.5-flash",
        response_id="r-empty",
        finish="STOP",
        usage={"promptTokenCount": 40, "candidatesTokenCount": 0, "totalTokenCount": 40},
    )
    fake.script(Step(events=[thought_only]))
    with pytest.raises(openai.APIStatusError) as info:
        await client.responses.compact(model="gemini-2.5-flash", input="a long story")
    assert info.value.status_code == 502
    assert info.value.body["code"] == "upstream_error"  # type: ignore[index]
    await services.usage.flush()
    rows = await services.usage.run(lambda db: query_usage(db, group_by=("model",)))
    assert [(r["requests"], r["prompt_tokens"]) for r in rows] == [(1, 40)]
