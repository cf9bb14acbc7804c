"""The pure Responses translator: request mapping, the event machine against the stream checker,
the signature carrier, error codes, the memory hooks and the in-memory store."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ag2api.config.errors import ConfigError
from ag2api.config.load import parse_config
from ag2api.config.schema import ResponsesConfig
from ag2api.errors import GatewayError, InvalidRequest, from_upstream
from ag2api.state.records import MemoryResponseStore
from ag2api.testing import fake_model
from ag2api.translate.dialect import TranslationContext
from ag2api.translate.gemini.events import Blocked, Finish, Reply, Text, Thought, ToolCall, Usage
from ag2api.translate.openai_responses import carrier, errors, memory
from ag2api.translate.openai_responses.answer import ResponsesAnswer, shell
from ag2api.translate.openai_responses.dialect import translate
from ag2api.translate.openai_responses.request import RequestInfo, remote_images, to_gemini
from ag2api.translate.openai_responses.stream import ResponsesStream
from ag2api.translate.openai_responses.tools import convert_tools
from tests.support.responses_sse_rules import check

CONF = Path("/srv/ag2api/conf/gateway.yaml")
FN = {"type": "function", "name": "get_weather", "parameters": {"type": "object"}}
CUSTOM = {"type": "custom", "name": "apply_patch", "format": {"type": "text"}}


def gemini(body: dict[str, Any], model: str = "gemini-2.5-flash") -> dict[str, Any]:
    return to_gemini({"input": "hi", **body}, model=model, thinking_default=None)[0]


def ctx(model: str) -> TranslationContext:
    return TranslationContext(model, model, None, None, 1700000000)


@pytest.mark.parametrize(
    ("choice", "config", "declared"),
    [
        ("none", {"mode": "NONE"}, 2),
        ("required", {"mode": "ANY"}, 2),
        (
            {"type": "function", "name": "get_weather"},
            {"mode": "ANY", "allowedFunctionNames": ["get_weather"]},
            2,
        ),
        (
            {"type": "custom", "name": "apply_patch"},
            {"mode": "ANY", "allowedFunctionNames": ["apply_patch"]},
            2,
        ),
        (
            {
                "type": "allowed_tools",
                "mode": "auto",
                "tools": [{"type": "function", "name": "get_weather"}],
            },
            None,
            1,
        ),
        (
            {
                "type": "allowed_tools",
                "mode": "required",
                "tools": [{"type": "custom", "name": "apply_patch"}],
            },
            {"mode": "ANY", "allowedFunctionNames": ["apply_patch"]},
            2,
        ),
        ({"type": "web_search"}, None, 2),
    ],
)
def test_tool_choice(choice: Any, config: dict[str, Any] | None, declared: int) -> None:
    request = gemini({"tools": [FN, CUSTOM, {"type": "file_search"}], "tool_choice": choice})
    assert len(request["tools"][0]["functionDeclarations"]) == declared
    assert (request.get("toolConfig") or {}).get("functionCallingConfig") == config


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"tool_choice": {"type": "function", "name": "nope"}, "tools": [FN]}, "tool_choice"),
        ({"input": 3}, "input"),
        ({"input": [{"type": "function_call_output", "call_id": "c1", "output": "x"}]}, "input"),
        ({"input": [{"type": "item_reference", "id": "msg_1"}]}, "input"),
        ({"text": {"format": {"type": "xml"}}}, "text.format"),
        ({"text": {"verbosity": "loud"}}, "text.verbosity"),
        ({"reasoning": {"effort": "huge"}}, "reasoning.effort"),
        ({"max_output_tokens": 0}, "max_output_tokens"),
        ({"tools": [{"type": "function"}]}, "tools[0].name"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(body: dict[str, Any], param: str) -> None:
    with pytest.raises(InvalidRequest) as info:
        gemini(body)
    assert info.value.param == param


def test_request_mapping() -> None:
    request = gemini(
        {
            "instructions": "Be brief.",
            "input": [
                {"role": "developer", "content": "Use tools."},
                {
                    "role": "user",
                    "content": [{"type": "input_image", "image_url": "data:image/png;base64,AAAA"}],
                },
                {
                    "type": "message",
                    "role": "assistant",
                    "content": [{"type": "output_text", "text": "Hello"}],
                },
                {
                    "type": "function_call",
                    "call_id": "c1",
                    "name": "get_weather",
                    "arguments": '{"city":"Paris"}',
                },
                {
                    "type": "function_call_output",
                    "call_id": "c1",
                    "output": [{"type": "input_text", "text": "sunny"}],
                },
                {"type": "local_shell_call_output", "call_id": "x", "output": "ignored"},
            ],
            "tools": [FN, {"type": "web_search"}],
            "text": {
                "format": {
                    "type": "json_schema",
                    "name": "f",
                    "schema": {"type": "object", "properties": {"n": {"enum": [1, 2]}}},
                    "strict": True,
                }
            },
            "max_output_tokens": 10_000_000,
            "temperature": 0.5,
            "top_p": 0.9,
            "metadata": {"a": "b"},
            "truncation": "auto",
            "store": True,
            "unknown_field": 1,
        }
    )
    assert request["systemInstruction"]["parts"] == [{"text": "Be brief."}, {"text": "Use tools."}]
    assert [t["role"] for t in request["contents"]] == ["user", "model", "user"]
    assert request["contents"][0]["parts"] == [
        {"inlineData": {"mimeType": "image/png", "data": "AAAA"}}
    ]
    assert request["contents"][1]["parts"][1]["functionCall"]["args"] == {"city": "Paris"}
    assert request["contents"][1]["parts"][1]["thoughtSignature"] == fake_model.SENTINEL
    assert request["contents"][2]["parts"] == [
        {"functionResponse": {"id": "c1", "name": "get_weather", "response": {"result": "sunny"}}}
    ]
    gen = request["generationConfig"]
    assert gen["maxOutputTokens"] == 65536 and gen["temperature"] == 0.5 and gen["topP"] == 0.9
    assert gen["responseMimeType"] == "application/json"
    assert gen["responseSchema"]["properties"]["n"]["enum"] == ["1", "2"]
    assert request["tools"] == [
        {"functionDeclarations": [{"name": "get_weather", "parameters": {"type": "object"}}]}
    ]
    assert "unknown_field" not in str(request) and "metadata" not in request


def test_web_search_alone_is_google_search_and_effort_maps_to_levels() -> None:
    request = gemini(
        {"tools": [{"type": "web_search_preview"}], "reasoning": {"effort": "low"}},
        model="gemini-3-pro-high",
    )
    assert request["tools"] == [{"googleSearch": {}}]
    assert request["generationConfig"]["thinkingConfig"] == {
        "includeThoughts": True,
        "thinkingLevel": "low",
    }


def test_namespace_tools_flatten_and_map_back() -> None:
    tools = convert_tools(
        [{"type": "namespace", "name": "ns", "tools": [FN, CUSTOM]}], model="gemini-2.5-flash"
    )
    assert [d["name"] for d in tools.declarations] == ["ns__get_weather", "ns__apply_patch"]
    info = RequestInfo(model="gemini-2.5-flash", tools=tools)
    stream = ResponsesStream({"id": "resp_1"}, info)
    events = stream.feed(
        [
            ToolCall("ns__get_weather", {"city": "x"}, None, None),
            ToolCall("ns__apply_patch", {"input": "*** patch"}, None, None),
        ]
    )
    events += stream.finish()
    output = check(events)["output"]
    assert (output[0]["name"], output[0]["namespace"]) == ("get_weather", "ns")
    assert (output[1]["type"], output[1]["input"], output[1]["namespace"]) == (
        "custom_tool_call",
        "*** patch",
        "ns",
    )


@pytest.mark.parametrize(
    ("events", "status", "reason"),
    [
        ([Text("cut"), Finish("MAX_TOKENS")], "incomplete", "max_output_tokens"),
        ([Text("no"), Finish("SAFETY")], "incomplete", "content_filter"),
        ([Blocked("OTHER")], "incomplete", "content_filter"),
        ([Thought("hm"), Text("ok"), Finish("STOP"), Usage(10, 4, 5, 2, 17)], "completed", None),
    ],
)
def test_terminal_events(events: list[Any], status: str, reason: str | None) -> None:
    stream = ResponsesStream({"id": "resp_1"}, RequestInfo(model="gemini-2.5-flash"))
    out = check(stream.feed(events) + stream.finish())
    assert out["status"] == status
    assert (out.get("incomplete_details") or {}).get("reason") == reason
    if status == "completed":
        assert out["usage"]["input_tokens_details"] == {"cached_tokens": 4, "cache_write_tokens": 0}
        assert out["usage"]["output_tokens_details"] == {"reasoning_tokens": 2}


def test_failure_before_and_after_output() -> None:
    error = errors.failure(from_upstream(429, "limited", retry_after=29.2))
    assert error == {
        "code": "rate_limit_exceeded",
        "message": "All accounts are rate limited upstream: limited Please try again in 30s.",
    }
    early = ResponsesStream({"id": "resp_1"}, RequestInfo(model="gemini-2.5-flash"))
    assert check(early.fail(error))["error"] == error
    late = ResponsesStream({"id": "resp_2"}, RequestInfo(model="gemini-2.5-flash"))
    events = late.feed([Text("partial")]) + late.fail(error)
    failed = check(events)
    assert failed["output"] == [] and events[-1][0] == "response.failed"
    context = from_upstream(400, "The input token count (1200000) exceeds the maximum")
    assert errors.code_of(context) == "context_length_exceeded"
    assert errors.body(context)["error"]["code"] == "context_length_exceeded"
    assert errors.code_of(GatewayError("x", kind="server_busy")) == "server_is_overloaded"


@pytest.mark.parametrize("model", ["gemini-3-pro-high", "claude-sonnet-4-5-thinking"])
def test_whole_answer_equals_the_streamed_one(model: str) -> None:
    issued: set[str] = set()
    body = {"input": "please call get_weather", "tools": [FN], "reasoning": {"effort": "low"}}
    streamed, whole = translate(body, ctx(model)), translate(body, ctx(model))
    request = streamed.request
    events = fake_model.events(
        model, request, fake_model.answer(model, request, None, issued), issued
    )
    out: list[Any] = []
    for event in events:
        out += streamed.answer.feed(Reply(event["response"]))
    final = check(out + streamed.answer.finish())
    assert isinstance(whole.answer, ResponsesAnswer)
    alone = whole.answer.whole(Reply(fake_model.merge(events)["response"]))
    assert strip(final["output"]) == strip(alone["output"])
    carried = carrier.unpack(final["output"][0]["encrypted_content"], model)
    assert carried is not None
    if model.startswith("claude"):
        assert carried.signature in issued and carried.thinking.startswith("Thinking about")
    else:
        assert list(carried.calls) == [final["output"][1]["call_id"]]


def strip(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Items without what is random per answer (ids; the carrier names the call id)."""
    return [
        {k: bool(v) if k == "encrypted_content" else v for k, v in i.items() if "id" not in k}
        for i in items
    ]


def test_carrier_keeps_to_its_family() -> None:
    packed = carrier.pack("claude-opus-4-6-thinking", carrier.Carried("why", "sig", {}))
    assert packed.startswith("ag2r:claude:")
    assert carrier.unpack(packed, "claude-sonnet-4-5-thinking") == carrier.Carried("why", "sig", {})
    assert carrier.unpack(packed, "gemini-3-pro-high") is None
    assert carrier.unpack("ag2r:claude:!!!", "claude-sonnet-4-5") is None
    assert carrier.unpack("gAAAAB-openai", "claude-sonnet-4-5") is None


def test_foreign_reasoning_closes_a_claude_loop_instead_of_forging() -> None:
    gemini_blob = carrier.pack("gemini-3-pro-high", carrier.Carried(calls={"c1": "sig"}))
    request, info = to_gemini(
        {
            "input": [
                {"role": "user", "content": "go"},
                {
                    "type": "reasoning",
                    "id": "rs_1",
                    "summary": [],
                    "encrypted_content": gemini_blob,
                },
                {
                    "type": "function_call",
                    "call_id": "c1",
                    "name": "get_weather",
                    "arguments": "{}",
                },
                {"type": "function_call_output", "call_id": "c1", "output": "ok"},
            ],
            "tools": [FN],
        },
        model="claude-sonnet-4-5-thinking",
        thinking_default={"includeThoughts": True, "thinkingBudget": 1024},
    )
    assert info.closed_loop and info.dropped_thinking == 1
    assert "thoughtSignature" not in str(request["contents"])


def test_memory_expands_resolves_references_and_keeps() -> None:
    stored = {
        "input": [{"type": "message", "id": "msg_a", "role": "user", "content": "hi"}],
        "response": {
            "id": "resp_a",
            "output": [
                {
                    "type": "message",
                    "id": "msg_b",
                    "role": "assistant",
                    "content": [{"type": "output_text", "text": "yo"}],
                }
            ],
        },
    }
    body = {"previous_response_id": "resp_a", "input": [{"type": "item_reference", "id": "msg_a"}]}
    expanded = memory.expand(body, stored)
    assert [i["id"] for i in expanded["input"]] == ["msg_a", "msg_b", "msg_a"]
    with pytest.raises(GatewayError) as missing:
        memory.expand(body, None)
    assert missing.value.status == 400 and missing.value.kind == "previous_response_not_found"
    answer = translate({"input": "hi"}, ctx("gemini-2.5-flash")).answer
    assert isinstance(answer, ResponsesAnswer)
    answer.whole(
        Reply({"candidates": [{"content": {"parts": [{"text": "yo"}]}, "finishReason": "STOP"}]})
    )
    kept = memory.keep({"input": "hi"}, answer)
    assert kept is not None and kept[1]["input"][0]["content"] == [
        {"type": "input_text", "text": "hi"}
    ]
    assert memory.keep({"input": "hi", "store": False}, answer) is None
    assert shell({"store": False}, ctx("m"))["store"] is False


async def test_memory_store_ttl_and_size() -> None:
    # async (run on the test's IOLoop): asyncio.run here would drop the thread's default loop
    # unclosed and fail a later test with a ResourceWarning.
    now = [0.0]
    settings = ResponsesConfig(store_ttl=10, store_max_bytes=100)
    store = MemoryResponseStore(lambda: settings, clock=lambda: now[0])
    await store.put("a", {"x": "a" * 40})
    await store.put("b", {"x": "b" * 40})
    assert await store.get("a") == {"x": "a" * 40}
    await store.put("c", {"x": "c" * 40})  # over 100 bytes: the oldest goes
    assert await store.get("a") is None and await store.get("b") is not None
    await store.put("huge", {"x": "h" * 200})  # larger than the store: not kept
    assert await store.get("huge") is None
    now[0] = 11.0
    assert await store.get("b") is None  # expired
    assert await store.get("c") is None and len(store) == 0 and store.size == 0
    assert await store.delete("c") is False


def test_store_settings_are_read_and_checked() -> None:
    cfg = parse_config("responses: {store_ttl: 5, store_max_bytes: 1000}\n", path=CONF)
    assert cfg.responses == ResponsesConfig(store_ttl=5.0, store_max_bytes=1000)
    with pytest.raises(ConfigError, match=r"responses\.store_ttl"):
        parse_config("responses:\n  store_ttl: -1\n", path=CONF)


def test_image_urls_are_handed_to_the_fetcher_and_placed() -> None:
    body = {
        "input": [
            {"role": "user", "content": [{"type": "input_image", "image_url": "https://x/a.png"}]},
            {"type": "function_call", "call_id": "c1", "name": "look", "arguments": "{}"},
            {
                "type": "function_call_output",
                "call_id": "c1",
                "output": [{"type": "input_image", "image_url": "http://x/b.png"}],
            },
        ]
    }
    found = remote_images(body)
    assert [(f.where, f.url) for f in found] == [
        ("input[0].content[0]", "https://x/a.png"),
        ("input[2].output[0]", "http://x/b.png"),
    ]
    for image in found:
        image.place("data:image/png;base64,QUJD")
    request = gemini(body)
    images = [p for t in request["contents"] for p in t["parts"] if "inlineData" in p]
    assert images == [{"inlineData": {"mimeType": "image/png", "data": "QUJD"}}] * 2
