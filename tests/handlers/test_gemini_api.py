"""The Gemini API on the gateway: the real google-genai SDK, the JSON-array stream, Google-shaped
errors, and a request shaped like Gemini CLI's (docs/clients/recorded-requests.md)."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
from typing import Any

import pytest
from google import genai
from google.genai import errors as genai_errors
from google.genai import types
from prometheus_client.parser import text_string_to_metric_families

from ag2api.handlers.models import ModelListHandler
from ag2api.handlers.sse import SseStream
from ag2api.observe.usage import query_usage
from ag2api.services import Services
from ag2api.testing import fake_bodies as bodies
from ag2api.testing.fake_model import SENTINEL
from ag2api.testing.fake_upstream import FakeUpstream, Step
from tests.support.clients import API_KEY, close_gemini, gemini_sdk
from tests.support.http import fetch
from tests.support.upstream import upstream_requests

MODEL = "gemini-2.5-flash"
GEMINI3 = "gemini-3-pro-high"


def sse_events(raw: bytes) -> list[dict[str, Any]]:
    return [json.loads(line[6:]) for line in raw.decode().splitlines() if line.startswith("data: ")]


async def test_sdk_generate_stream_count_and_models(
    gemini: genai.Client,
    fake: FakeUpstream,
    services: Services,
    base_url: str,
    request_lines: list[dict[str, Any]],
) -> None:
    aio = gemini.aio
    plain = await aio.models.generate_content(model=MODEL, contents="hi")
    assert plain.text and plain.text.endswith("You said: hi")
    parts = plain.candidates[0].content.parts or []  # type: ignore[index, union-attr]
    # The policy's thinking (the client set none): thought parts and their signature come through.
    assert parts[0].thought and parts[0].thought_signature
    assert plain.candidates[0].finish_reason == types.FinishReason.STOP  # type: ignore[index]
    assert plain.usage_metadata and plain.usage_metadata.prompt_token_count
    assert plain.model_version == MODEL and plain.response_id

    chunks = [
        c
        async for c in await aio.models.generate_content_stream(
            model=MODEL,
            contents="stream please",
            config=types.GenerateContentConfig(
                thinking_config=types.ThinkingConfig(include_thoughts=False, thinking_budget=0)
            ),
        )
    ]
    assert len(chunks) >= 3  # chunk by chunk, not merged
    text = "".join(c.text or "" for c in chunks)
    assert text.endswith("You said: stream please")
    assert chunks[-1].candidates[0].finish_reason == types.FinishReason.STOP  # type: ignore[index]
    # The client's thinking config went upstream as it was, not the policy's.
    assert upstream_requests(fake)[-1]["generationConfig"] == {
        "thinkingConfig": {"includeThoughts": False, "thinkingBudget": 0}
    }

    counted = await aio.models.count_tokens(model=MODEL, contents="count these words")
    assert counted.total_tokens and counted.total_tokens > 0
    count_call = [r for r in fake.requests if r.path.endswith(":countTokens")][-1]
    assert set(count_call.body) == {"request"}
    assert count_call.body["request"]["contents"] == [
        {"role": "user", "parts": [{"text": "count these words"}]}
    ]

    listed = [m async for m in await aio.models.list()]
    names = {m.name for m in listed}
    assert {"models/gemini-2.5-flash", "models/claude-sonnet-4-5"} <= names
    assert "models/chat_20706" not in names
    one = await aio.models.get(model=MODEL)
    assert one.name == "models/gemini-2.5-flash" and one.display_name == "Gemini 2.5 Flash"
    assert (one.input_token_limit, one.output_token_limit) == (1_048_576, 65_536)
    assert one.supported_actions == ["generateContent", "streamGenerateContent", "countTokens"]
    claude = await aio.models.get(model="models/claude-sonnet-4-5")
    assert (claude.input_token_limit, claude.output_token_limit) == (200_000, 64_000)

    # Usage statistics, metrics and the request log, under the route label "gemini".
    lines = [line for line in request_lines if ":" in line["path"] and "Content" in line["path"]]
    assert [(line["stream"], line["model"], line["key"]) for line in lines] == [
        (False, MODEL, "tests"),
        (True, MODEL, "tests"),
    ]
    assert all(line["tokens_in"] > 0 and line["tokens_out"] > 0 for line in lines)
    await services.usage.flush()
    rows = await services.usage.run(lambda db: query_usage(db, group_by=("model",)))
    assert [(r["model"], r["requests"], r["errors"]) for r in rows] == [(MODEL, 2, 0)]
    metrics = (await fetch(base_url + "/metrics")).body.decode()
    routes = {
        (s.labels["route"], s.labels["stream"]): s.value
        for f in text_string_to_metric_families(metrics)
        if f.name == "ag2api_requests"
        for s in f.samples
        if s.name.endswith("_total") and s.labels["route"] == "gemini"
    }
    assert sum(routes.values()) == 2


async def test_function_calling_loop_replays_the_gemini3_signature(
    gemini: genai.Client, fake: FakeUpstream
) -> None:
    weather = types.FunctionDeclaration(
        name="get_weather",
        description="The weather in a city",
        parameters_json_schema={
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
            "additionalProperties": False,
        },
    )
    config = types.GenerateContentConfig(
        tools=[types.Tool(function_declarations=[weather])],
        automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True),
    )
    history: list[types.Content] = [
        types.Content(role="user", parts=[types.Part(text="call get_weather for Paris")])
    ]
    first = await gemini.aio.models.generate_content(model=GEMINI3, contents=history, config=config)
    calls = first.function_calls or []
    assert [c.name for c in calls] == ["get_weather"] and calls[0].args == {"city": "city-value"}
    model_turn = first.candidates[0].content  # type: ignore[index]
    call_part = next(p for p in model_turn.parts if p.function_call)  # type: ignore[union-attr]
    issued = base64.b64encode(call_part.thought_signature or b"").decode()
    assert issued in fake.issued_signatures
    history += [
        model_turn,  # type: ignore[list-item]
        types.Content(
            role="user",
            parts=[types.Part.from_function_response(name="get_weather", response={"temp_c": 18})],
        ),
    ]
    second = await gemini.aio.models.generate_content(
        model=GEMINI3, contents=history, config=config
    )
    assert second.text and second.text.startswith("The tools said:")
    # The model's own signature went back upstream untouched (the fake rejects an unsigned or
    # unknown one for Gemini 3), and the JSON Schema was cleaned for the backend.
    replayed = upstream_requests(fake)[-1]
    signed = [p for p in replayed["contents"][1]["parts"] if "functionCall" in p]
    assert [base64.urlsafe_b64decode(p["thoughtSignature"]) for p in signed] == [
        call_part.thought_signature
    ]
    params = replayed["tools"][0]["functionDeclarations"][0]["parameters"]
    assert "additionalProperties" not in params and params["required"] == ["city"]


async def test_json_array_stream_without_alt_sse_and_key_in_query(
    base_url: str, fake: FakeUpstream, caplog: pytest.LogCaptureFixture, monkeypatch: Any
) -> None:
    body = json.dumps({"contents": [{"parts": [{"text": "array"}]}]}).encode()
    response = await fetch(
        f"{base_url}/v1/models/{MODEL}:streamGenerateContent?key={API_KEY}",
        method="POST",
        body=body,
        headers={"Content-Type": "application/json"},
    )
    assert response.code == 200, response.body
    assert response.headers["Content-Type"].startswith("application/json")
    raw = response.body
    assert raw.startswith(b"[") and raw.rstrip().endswith(b"]") and b",\r\n" in raw
    items = json.loads(raw)
    assert len(items) >= 3 and all("candidates" in item for item in items)
    assert items[-1]["candidates"][0]["finishReason"] == "STOP"
    text = "".join(
        p.get("text", "")
        for item in items
        for p in item["candidates"][0]["content"]["parts"]
        if not p.get("thought")
    )
    assert text.endswith("You said: array")

    # The upstream fails mid-stream: the array still closes, its last element is the error.
    fake.script(Step(drop_after=2))
    dropped = await fetch(
        f"{base_url}/v1beta/models/{MODEL}:streamGenerateContent",
        method="POST",
        body=body,
        headers={"x-goog-api-key": API_KEY},
    )
    items = json.loads(dropped.body)
    assert "candidates" in items[0] and items[-1]["error"]["status"] == "UNAVAILABLE"

    # The key in the query never reaches a log, even when a handler fails unexpectedly.
    def broken(self: Any) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(ModelListHandler, "get", broken)
    with caplog.at_level(logging.DEBUG):
        failed = await fetch(f"{base_url}/v1beta/models?pageSize=5&key={API_KEY}")
    assert failed.code == 500
    assert json.loads(failed.body)["error"]["status"] == "INTERNAL"
    assert "pageSize=5" in caplog.text  # the request was logged, its key was not
    assert API_KEY not in caplog.text


async def test_errors_are_google_shaped(
    gemini: genai.Client, fake: FakeUpstream, base_url: str
) -> None:
    with pytest.raises(genai_errors.ClientError) as info:
        await gemini.aio.models.generate_content(model="gemini-9-ultra", contents="hi")
    assert (info.value.code, info.value.status) == (404, "NOT_FOUND")
    assert "gemini-9-ultra" in (info.value.message or "")

    wrong = gemini_sdk(base_url, "wrong-key")
    with pytest.raises(genai_errors.ClientError) as info:
        await wrong.aio.models.generate_content(model=MODEL, contents="hi")
    await close_gemini(wrong)
    assert (info.value.code, info.value.status) == (401, "UNAUTHENTICATED")

    bad = await fetch(
        f"{base_url}/v1beta/models/{MODEL}:generateContent",
        method="POST",
        body=json.dumps({"contents": [{"parts": [{"text": "x"}]}], "cachedContent": "c/1"}),
        headers={"x-goog-api-key": API_KEY},
    )
    error = json.loads(bad.body)["error"]
    assert (bad.code, error["code"], error["status"]) == (400, 400, "INVALID_ARGUMENT")
    assert "cachedContent" in error["message"]
    violation = next(d for d in error["details"] if d["@type"].endswith("BadRequest"))
    assert violation["fieldViolations"][0]["field"] == "cachedContent"

    # Every account answers 429: RetryInfo holds the pool's earliest recovery.
    fake.script(*[Step(status=429, body=bodies.QUOTA_EXHAUSTED)] * 3)
    with pytest.raises(genai_errors.ClientError) as info:
        await gemini.aio.models.generate_content(model=MODEL, contents="hi")
    assert (info.value.code, info.value.status) == (429, "RESOURCE_EXHAUSTED")
    details = info.value.details["error"]["details"]
    delay = next(d["retryDelay"] for d in details if d["@type"].endswith("RetryInfo"))
    assert delay.endswith("s") and 3590 <= float(delay[:-1]) <= 3600  # retry.max_cooldown
    assert fake.generate_requests()  # the 404/401/400 never went upstream; the 429s did
    assert len(fake.generate_requests()) == 3


def gemini_cli_body(prompt: str, thinking: dict[str, Any]) -> dict[str, Any]:
    """The shape of Gemini CLI 0.61.0's first request, abridged
    (docs/clients/recorded-requests.md)."""
    return {
        "contents": [
            {
                "parts": [
                    {"text": "<session_context>\nThis is the Gemini CLI. We are setting up…"},
                    {"text": prompt},
                ],
                "role": "user",
            }
        ],
        "systemInstruction": {
            "parts": [{"text": "You are a non-interactive CLI agent specializing in…"}],
            "role": "user",
        },
        "tools": [
            {
                "functionDeclarations": [
                    {
                        "name": "run_shell_command",
                        "description": "This tool executes a given shell command as `bash -c`.",
                        "parametersJsonSchema": {
                            "type": "object",
                            "properties": {
                                "command": {"type": "string", "description": "Exact command"},
                                "description": {"type": "string", "description": "Brief"},
                                "dir_path": {"type": "string", "description": "(OPTIONAL) dir"},
                                "is_background": {"type": "boolean", "description": "bg"},
                                "delay_ms": {"type": "integer", "description": "Optional."},
                            },
                            "required": ["command"],
                        },
                    },
                    {
                        "name": "read_file",
                        "description": "Reads a file.",
                        "parametersJsonSchema": {
                            "type": "object",
                            "properties": {"file_path": {"type": "string"}},
                            "required": ["file_path"],
                        },
                    },
                ]
            }
        ],
        "generationConfig": {
            "temperature": 1,
            "topP": 0.95,
            "topK": 64,
            "thinkingConfig": thinking,
        },
    }


CLI_HEADERS = {
    "User-Agent": "GeminiCLI-tui/0.61.0/gemini-2.5-flash (linux; x64; terminal)",
    "x-goog-api-client": "google-genai-sdk/1.30.0 gl-node/v20.20.2",
    "Content-Type": "application/json",
    "x-goog-api-key": API_KEY,
    "accept": "*/*",
    "accept-language": "*",
    "sec-fetch-mode": "cors",
    "accept-encoding": "gzip, deflate",
}


async def test_gemini_cli_request_and_tool_round_trip(base_url: str, fake: FakeUpstream) -> None:
    url = f"{base_url}/v1beta/models/{MODEL}:streamGenerateContent?alt=sse"
    thinking = {"includeThoughts": True, "thinkingBudget": 8192}
    body = gemini_cli_body("run the marker command with run_shell_command", thinking)
    first = await fetch(url, method="POST", body=json.dumps(body), headers=CLI_HEADERS)
    assert first.code == 200 and first.headers["Content-Type"].startswith("text/event-stream")
    events = sse_events(first.body)
    assert events[-1]["candidates"][0]["finishReason"] == "STOP"  # Gemini CLI needs it
    calls = [
        p["functionCall"]
        for e in events
        for p in e["candidates"][0]["content"]["parts"]
        if "functionCall" in p
    ]
    assert [c["name"] for c in calls] == ["run_shell_command"]
    sent = upstream_requests(fake)[-1]
    assert set(sent) == {"contents", "systemInstruction", "tools", "generationConfig", "sessionId"}
    assert sent["generationConfig"] == {
        "temperature": 1,
        "topP": 0.95,
        "topK": 64,
        "thinkingConfig": thinking,
    }
    decls = sent["tools"][0]["functionDeclarations"]
    assert [sorted(d) for d in decls] == [["description", "name", "parameters"]] * 2
    assert sent["systemInstruction"]["role"] == "user"

    # Turn 2, as Gemini CLI replays it: its own call id and the sentinel signature.
    call_id = "run_shell_command_1796159962648_0"
    body["contents"] += [
        {
            "parts": [
                {
                    "functionCall": {
                        "id": call_id,
                        "args": calls[0]["args"],
                        "name": calls[0]["name"],
                    },
                    "thoughtSignature": SENTINEL,
                }
            ],
            "role": "model",
        },
        {
            "parts": [
                {
                    "functionResponse": {
                        "name": "run_shell_command",
                        "response": {"output": "ag2api-tool-ok"},
                        "id": call_id,
                    }
                }
            ],
            "role": "user",
        },
    ]
    second = await fetch(url, method="POST", body=json.dumps(body), headers=CLI_HEADERS)
    assert second.code == 200, second.body
    final = sse_events(second.body)
    text = "".join(
        p.get("text", "")
        for e in final
        for p in e["candidates"][0]["content"]["parts"]
        if not p.get("thought")
    )
    assert "ag2api-tool-ok" in text and final[-1]["candidates"][0]["finishReason"] == "STOP"
    assert upstream_requests(fake)[-1]["contents"][1] == body["contents"][1]  # untouched

    # A Gemini 3 request: the level goes as sent; the /v1/models list stays OpenAI's without
    # the Gemini key and is Gemini's with it.
    level = {"includeThoughts": True, "thinkingLevel": "HIGH"}
    three = await fetch(
        f"{base_url}/v1beta/models/{GEMINI3}:streamGenerateContent?alt=sse",
        method="POST",
        body=json.dumps(gemini_cli_body("hello", level)),
        headers=CLI_HEADERS,
    )
    assert (
        three.code == 200
        and upstream_requests(fake)[-1]["generationConfig"]["thinkingConfig"] == level
    )
    openai_list = json.loads(
        (await fetch(base_url + "/v1/models", headers={"Authorization": f"Bearer {API_KEY}"})).body
    )
    assert openai_list["object"] == "list" and "models" not in openai_list
    gemini_list = json.loads(
        (await fetch(base_url + "/v1/models", headers={"x-goog-api-key": API_KEY})).body
    )
    assert "models/gemini-2.5-flash" in {m["name"] for m in gemini_list["models"]}
    unknown = await fetch(base_url + "/v1/models/nope", headers={"x-goog-api-key": API_KEY})
    assert unknown.code == 404 and json.loads(unknown.body)["error"]["status"] == "NOT_FOUND"


@pytest.mark.parametrize("config_overrides", [{"server": {"keepalive": 0.05}}])
async def test_keepalive_mid_stream_is_whitespace_the_sdk_skips(
    gemini: genai.Client, fake: FakeUpstream, monkeypatch: Any, config_overrides: dict[str, Any]
) -> None:
    """An SSE comment (``: keepalive``) breaks google-genai's parser; a blank line does not."""
    after, beaten = asyncio.Event(), asyncio.Event()
    fake.script(Step(hold=after, hold_after=1))
    beat = SseStream._beat

    def watched(self: SseStream) -> None:
        last = self._last
        beat(self)
        if self.started and self._last != last:  # it wrote the keepalive
            beaten.set()

    monkeypatch.setattr(SseStream, "_beat", watched)
    stream = await gemini.aio.models.generate_content_stream(model=MODEL, contents="slow")
    first = await anext(stream)
    await beaten.wait()  # a keepalive went out between two chunks
    after.set()
    rest = [c async for c in stream]
    text = "".join(c.text or "" for c in [first, *rest])
    assert text.endswith("You said: slow")


async def test_gemini_cli_auto_model_names_resolve_without_configuration(
    base_url: str, fake: FakeUpstream
) -> None:
    """Gemini CLI without ``-m`` (docs/clients/recorded-requests.md): a JSON-mode router call on
    gemini-3.5-flash-lite, then the turn on gemini-3.8-flash or gemini-3.1-pro-preview — names the
    backend does not list; the shipped defaults send each to the best listed model of its class."""
    router = {
        "contents": [{"parts": [{"text": "classify: run ls"}], "role": "user"}],
        "generationConfig": {
            "temperature": 0,
            "responseMimeType": "application/json",
            "responseJsonSchema": {
                "type": "object",
                "properties": {
                    "complexity_reasoning": {"type": "string"},
                    "complexity_score": {"type": "integer"},
                },
                "required": ["complexity_reasoning", "complexity_score"],
            },
        },
    }
    routed = await fetch(
        f"{base_url}/v1beta/models/gemini-3.5-flash-lite:generateContent",
        method="POST",
        body=json.dumps(router),
        headers=CLI_HEADERS,
    )
    assert routed.code == 200, routed.body
    parts = json.loads(routed.body)["candidates"][0]["content"]["parts"]
    answer = "".join(p.get("text", "") for p in parts if not p.get("thought"))
    assert isinstance(json.loads(answer), dict)  # JSON mode honoured: the router can parse it
    assert fake.generate_requests()[-1].body["model"] == "gemini-2.5-flash"

    thinking = {"includeThoughts": True, "thinkingLevel": "HIGH"}
    for asked, upstream in (
        ("gemini-3.8-flash", "gemini-2.5-flash"),
        ("gemini-3.1-pro-preview", "gemini-3-pro-high"),  # what `-m gemini-3-pro-preview` sends
    ):
        turn = await fetch(
            f"{base_url}/v1beta/models/{asked}:streamGenerateContent?alt=sse",
            method="POST",
            body=json.dumps(gemini_cli_body("hello", thinking)),
            headers=CLI_HEADERS,
        )
        assert turn.code == 200, turn.body
        assert sse_events(turn.body)[-1]["candidates"][0]["finishReason"] == "STOP"
        assert fake.generate_requests()[-1].body["model"] == upstream
    # An unknown class stays a Google-shaped 404, and no text name reaches the image model.
    unknown = await fetch(
        f"{base_url}/v1beta/models/gemini-9-ultra:generateContent",
        method="POST",
        body=json.dumps(router),
        headers=CLI_HEADERS,
    )
    assert unknown.code == 404 and json.loads(unknown.body)["error"]["status"] == "NOT_FOUND"


@pytest.mark.parametrize("config_overrides", [{"models": {"default_aliases": False}}])
async def test_gemini_cli_names_need_aliases_when_defaults_are_off(
    base_url: str, fake: FakeUpstream, config_overrides: dict[str, Any]
) -> None:
    turn = await fetch(
        f"{base_url}/v1beta/models/gemini-3.8-flash:streamGenerateContent?alt=sse",
        method="POST",
        body=json.dumps(gemini_cli_body("hello", {"thinkingLevel": "HIGH"})),
        headers=CLI_HEADERS,
    )
    assert turn.code == 404 and json.loads(turn.body)["error"]["status"] == "NOT_FOUND"
    assert not fake.generate_requests()
