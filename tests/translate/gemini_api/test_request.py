"""Gemini API bodies → the upstream request: passed almost as is, cleaned where the backend
rejects. Pure functions, no I/O."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from ag2api.errors import GatewayError, InvalidRequest
from ag2api.translate.gemini.events import Reply
from ag2api.translate.gemini_api import errors
from ag2api.translate.gemini_api.answer import GeminiAnswer
from ag2api.translate.gemini_api.request import to_gemini

POLICY = {"includeThoughts": True, "thinkingBudget": -1}
SIG = "CiQBsignature-from-the-model"


def body(**extra: Any) -> dict[str, Any]:
    return {"contents": [{"role": "user", "parts": [{"text": "hi"}]}], **extra}


def test_body_passes_with_what_the_backend_rejects_cleaned() -> None:
    schema = {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "type": "OBJECT",
        "additionalProperties": False,
        "properties": {"command": {"type": "STRING", "minLength": 1}},
        "required": ["command"],
    }
    contents: list[dict[str, Any]] = [
        {"role": "user", "parts": [{"text": "run it"}]},
        {
            "role": "model",
            "parts": [
                {"text": "thinking", "thought": True, "thoughtSignature": SIG},
                {
                    "functionCall": {"id": "c1", "name": "run", "args": {"x": 1}},
                    "thoughtSignature": SIG,
                },
                {"text": ""},
            ],
        },
        {
            "role": "user",
            "parts": [
                {"functionResponse": {"id": "c1", "name": "run", "response": {"output": "ok"}}}
            ],
        },
    ]
    sent = {
        "contents": copy.deepcopy(contents),
        "systemInstruction": {"parts": [{"text": "be brief"}]},
        "tools": [
            {"functionDeclarations": [{"name": "run", "parametersJsonSchema": schema}]},
            {"function_declarations": [{"name": "run", "parameters": {"type": "object"}}]},
            {"googleSearch": {}},
        ],
        "toolConfig": {"functionCallingConfig": {"mode": "auto"}},
        "generation_config": {
            "temperature": 1,
            "topP": 0.95,
            "topK": 64,
            "maxOutputTokens": 1_000_000,
            "responseLogprobs": True,
            "thinkingConfig": {"includeThoughts": True, "thinkingBudget": 8192},
        },
        "safetySettings": [{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "OFF"}],
        "labels": {"x": "y"},
        "model": "models/gemini-2.5-flash",
    }
    request, fixes = to_gemini(sent, model="gemini-2.5-flash", thinking_default=POLICY)
    assert set(request) == {
        "contents",
        "systemInstruction",
        "tools",
        "toolConfig",
        "generationConfig",
        "safetySettings",
        "sessionId",
    }
    # Thought parts and signatures untouched; only the lone empty text part is gone.
    assert request["contents"][1]["parts"] == contents[1]["parts"][:2]
    assert request["contents"][2] == contents[2]
    assert request["systemInstruction"] == {"role": "user", "parts": [{"text": "be brief"}]}
    # One declaration (deduplicated), cleaned schema; no googleSearch next to functions.
    assert request["tools"] == [
        {
            "functionDeclarations": [
                {
                    "name": "run",
                    "parameters": {
                        "type": "object",
                        "properties": {
                            "command": {"type": "string", "description": "minLength: 1"}
                        },
                        "required": ["command"],
                    },
                }
            ]
        }
    ]
    assert request["toolConfig"] == {"functionCallingConfig": {"mode": "AUTO"}}
    # The client's thinking config wins over the policy; the output cap applies.
    assert request["generationConfig"] == {
        "temperature": 1,
        "topP": 0.95,
        "topK": 64,
        "maxOutputTokens": 65536,
        "thinkingConfig": {"includeThoughts": True, "thinkingBudget": 8192},
    }
    assert fixes == {}


def test_rule_thinking_only_when_the_client_set_none() -> None:
    request, _ = to_gemini(body(), model="gemini-2.5-flash", thinking_default=POLICY)
    assert request["generationConfig"] == {"thinkingConfig": POLICY}
    request, _ = to_gemini(
        body(generationConfig={"thinkingConfig": {"thinkingBudget": 0}}),
        model="gemini-2.5-flash",
        thinking_default=POLICY,
    )
    assert request["generationConfig"]["thinkingConfig"] == {"thinkingBudget": 0}


def test_thinking_fitted_to_the_family() -> None:
    high = {
        "generationConfig": {"thinkingConfig": {"includeThoughts": True, "thinkingLevel": "HIGH"}}
    }
    # Gemini 3 takes the level as sent; 2.5 gets the matching budget.
    request, _ = to_gemini(body(**high), model="gemini-3-pro-high", thinking_default=None)
    assert request["generationConfig"]["thinkingConfig"] == {
        "includeThoughts": True,
        "thinkingLevel": "HIGH",
    }
    request, _ = to_gemini(
        body(**copy.deepcopy(high)), model="gemini-2.5-flash", thinking_default=None
    )
    assert request["generationConfig"]["thinkingConfig"] == {
        "includeThoughts": True,
        "thinkingBudget": 24576,
    }
    with pytest.raises(InvalidRequest) as info:
        to_gemini(
            body(generationConfig={"thinkingConfig": {"thinkingLevel": "LOUD"}}),
            model="gemini-2.5-flash",
            thinking_default=None,
        )
    assert info.value.param == "generationConfig.thinkingConfig.thinkingLevel"


def test_claude_target_gets_the_family_rules_and_the_placeholder_is_stripped() -> None:
    sent = body(
        tools=[
            {"functionDeclarations": [{"name": "ping", "parametersJsonSchema": {"type": "OBJECT"}}]}
        ],
        generationConfig={
            "temperature": 0.5,
            "topK": 64,
            "thinkingConfig": {"includeThoughts": True, "thinkingBudget": 4096},
        },
    )
    request, fixes = to_gemini(sent, model="claude-sonnet-4-5-thinking", thinking_default=None)
    assert set(fixes) == {"ping"}
    assert request["toolConfig"] == {"functionCallingConfig": {"mode": "VALIDATED"}}
    assert request["generationConfig"] == {
        "thinkingConfig": {"includeThoughts": True, "thinkingBudget": 4096},
        "maxOutputTokens": 64000,
    }
    answer = GeminiAnswer(fixes)
    chunk: dict[str, Any] = {
        "candidates": [
            {"content": {"parts": [{"functionCall": {"name": "ping", "args": {"reason": "r"}}}]}}
        ],
        "usageMetadata": {"promptTokenCount": 5, "candidatesTokenCount": 2, "totalTokenCount": 7},
    }
    [(_, sent_back)] = answer.feed(Reply(chunk))
    parts = sent_back["candidates"][0]["content"]["parts"]
    assert parts == [{"functionCall": {"name": "ping", "args": {}}}]  # the placeholder is gone
    assert sent_back["usageMetadata"] == chunk["usageMetadata"]
    assert answer.usage()["total_tokens"] == 7


@pytest.mark.parametrize(
    ("sent", "param"),
    [
        (body(cachedContent="cachedContents/abc"), "cachedContent"),
        ({"contents": []}, "contents"),
        (body(contents=[{"role": "system", "parts": [{"text": "x"}]}]), "contents[0].role"),
        (
            body(tools=[{"functionDeclarations": [{"description": "no name"}]}]),
            "tools[0].functionDeclarations[0].name",
        ),
        (body(generationConfig={"maxOutputTokens": "many"}), "generationConfig.maxOutputTokens"),
        (body(generationConfig={"topP": "high"}), "generationConfig.topP"),
        (body(contents=[{"role": ["user"], "parts": []}]), "contents[0].role"),
    ],
)
def test_bad_fields_are_400_naming_them(sent: dict[str, Any], param: str) -> None:
    with pytest.raises(InvalidRequest) as info:
        to_gemini(sent, model="gemini-2.5-flash", thinking_default=None)
    assert info.value.param == param
    shaped = errors.body(info.value)["error"]
    assert (shaped["code"], shaped["status"]) == (400, "INVALID_ARGUMENT")
    violations = [d for d in shaped["details"] if d["@type"].endswith("BadRequest")]
    assert violations[0]["fieldViolations"][0]["field"] == param


def test_429_carries_retry_info() -> None:
    err = GatewayError("cooling", kind="rate_limit_exceeded", retry_after=12.25)
    shaped = errors.body(err)["error"]
    assert (shaped["code"], shaped["status"]) == (429, "RESOURCE_EXHAUSTED")
    assert {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "12.25s"} in shaped[
        "details"
    ]
    assert errors.duration(3600) == "3600s"
