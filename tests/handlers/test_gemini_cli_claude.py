"""Gemini CLI on a Claude thinking model: the tool loop finishes.

Gemini CLI drops ``thought: true`` parts when it replays a turn, keeps the part holding Claude's
signature, puts its own id on the call (and the sentinel signature on a call that had none) —
docs/clients/recorded-requests.md. Claude, thinking, rejects an open tool loop whose turn does
not start with its signed thinking (the fake enforces it, ``fake_claude_rules``). The gateway
gives the turn its thinking back from its records, keyed by the signature; without the record
it closes the loop instead.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from google import genai
from google.genai import types

from ag2api.services import Services
from ag2api.testing.fake_model import SENTINEL
from ag2api.testing.fake_upstream import FakeUpstream
from ag2api.translate.gemini.turns import CONTINUE
from ag2api.translate.signatures import SignatureCache
from tests.support.clients import API_KEY
from tests.support.http import fetch

MODEL = "claude-sonnet-4-5-thinking"
SHELL = {
    "name": "run_shell_command",
    "description": "Executes a shell command as `bash -c <command>`.",
    "parametersJsonSchema": {
        "type": "object",
        "properties": {
            "command": {"type": "string", "description": "Exact bash command"},
            "description": {"type": "string"},
        },
        "required": ["command"],
    },
}
CONFIG = {  # what Gemini CLI sends to a 2.5-style budget model
    "temperature": 1,
    "topP": 0.95,
    "topK": 64,
    "thinkingConfig": {"includeThoughts": True, "thinkingBudget": 8192},
}
ASK = {"role": "user", "parts": [{"text": "run echo x with run_shell_command"}]}
CLI_ID = "run_shell_command_1796159962648_0"


def cli_body(contents: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "contents": contents,
        "systemInstruction": {"role": "user", "parts": [{"text": "You are a CLI agent."}]},
        "tools": [{"functionDeclarations": [SHELL]}],
        "generationConfig": CONFIG,
    }


async def stream(base_url: str, body: dict[str, Any]) -> tuple[int, list[dict[str, Any]]]:
    answer = await fetch(
        f"{base_url}/v1beta/models/{MODEL}:streamGenerateContent?alt=sse",
        body=body,
        headers={"x-goog-api-key": API_KEY},
    )
    text = answer.body.decode()
    if answer.code != 200:
        return answer.code, [json.loads(text)]
    return 200, [json.loads(line[6:]) for line in text.splitlines() if line.startswith("data: ")]


def cli_replay(parts: list[dict[str, Any]], bare: bool) -> list[dict[str, Any]]:
    """The model turn as Gemini CLI sends it back."""
    out: list[dict[str, Any]] = []
    for part in parts:
        if part.get("thought") or part == {"text": ""}:
            continue  # thought text is dropped
        if "functionCall" in part:
            call = {**part["functionCall"], "id": CLI_ID}
            out.append({"functionCall": call, "thoughtSignature": SENTINEL})
        elif bare:
            out.append({"thoughtSignature": part["thoughtSignature"]})
        else:
            out.append(part)  # {"text": "", "thoughtSignature": …}
    return out


def tool_result() -> dict[str, Any]:
    response = {"id": CLI_ID, "name": "run_shell_command", "response": {"output": "x"}}
    return {"role": "user", "parts": [{"functionResponse": response}]}


def answer_text(events: list[dict[str, Any]]) -> str:
    parts = [p for e in events for p in e["candidates"][0]["content"]["parts"]]
    return "".join(p.get("text", "") for p in parts if not p.get("thought"))


@pytest.mark.parametrize("bare", [True, False], ids=["signature-only", "empty-text"])
async def test_a_cli_tool_loop_on_claude_finishes(
    base_url: str, fake: FakeUpstream, bare: bool
) -> None:
    code, first = await stream(base_url, cli_body([ASK]))
    assert code == 200
    parts = [p for e in first for p in e["candidates"][0]["content"]["parts"]]
    assert parts[0]["thought"] and any("functionCall" in p for p in parts)
    replayed = {"role": "model", "parts": cli_replay(parts, bare)}
    assert "functionCall" in replayed["parts"][1]  # [signature part, call]

    code, second = await stream(base_url, cli_body([ASK, replayed, tool_result()]))
    assert code == 200, second
    assert answer_text(second).startswith("The tools said:")
    sent = fake.generate_requests()[-1].body["request"]["contents"]
    model_turn = sent[1]["parts"]
    thinking = [p for p in parts if p.get("thought")]
    # The thinking Claude signed, first; no signature-only part goes upstream.
    assert model_turn[0]["thought"] and model_turn[0]["text"] == "".join(
        p["text"] for p in thinking
    )
    assert [list(p) for p in model_turn[1:]] == [["functionCall", "thoughtSignature"]]


async def test_without_the_record_the_loop_is_closed(
    base_url: str, fake: FakeUpstream, services: Services
) -> None:
    """Another gateway (or one whose records are gone) never forges a signature."""
    _, first = await stream(base_url, cli_body([ASK]))
    parts = [p for e in first for p in e["candidates"][0]["content"]["parts"]]
    services.signatures = SignatureCache()
    replayed = {"role": "model", "parts": cli_replay(parts, bare=True)}
    code, second = await stream(base_url, cli_body([ASK, replayed, tool_result()]))
    assert code == 200, second
    sent = fake.generate_requests()[-1].body["request"]["contents"]
    assert sent[-1]["parts"] == [{"text": CONTINUE}]
    assert not any(p.get("thought") for turn in sent for p in turn["parts"])


async def test_the_sdk_replay_without_thoughts_finishes(
    gemini: genai.Client, fake: FakeUpstream
) -> None:
    """google-genai gives the signature back as bytes, sent again in the URL-safe alphabet."""
    decl = types.FunctionDeclaration(
        name=SHELL["name"],
        description=str(SHELL["description"]),
        parameters_json_schema=SHELL["parametersJsonSchema"],
    )
    config = types.GenerateContentConfig(
        tools=[types.Tool(function_declarations=[decl])],
        thinking_config=types.ThinkingConfig(include_thoughts=True, thinking_budget=8192),
    )
    ask = types.Content(role="user", parts=[types.Part(text=ASK["parts"][0]["text"])])
    first = await gemini.aio.models.generate_content(model=MODEL, contents=[ask], config=config)
    content = first.candidates[0].content  # type: ignore[index]
    kept = [p for p in content.parts or () if not p.thought]  # type: ignore[union-attr]
    call = next(p.function_call for p in kept if p.function_call)
    assert call is not None
    result = types.Part.from_function_response(name=call.name or "", response={"out": "x"})
    result.function_response.id = call.id  # type: ignore[union-attr]
    contents = [
        ask,
        types.Content(role="model", parts=kept),
        types.Content(role="user", parts=[result]),
    ]
    second = await gemini.aio.models.generate_content(model=MODEL, contents=contents, config=config)
    assert (second.text or "").startswith("The tools said:")
    sent = fake.generate_requests()[-1].body["request"]["contents"]
    assert sent[1]["parts"][0]["thought"]
