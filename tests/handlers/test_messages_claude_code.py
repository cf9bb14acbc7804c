"""Requests shaped like Claude Code 2.1.332's, sent raw with its headers: the upstream
must see none of the fields it would reject, and Claude Code's default
model id must resolve through the shipped aliases."""

from __future__ import annotations

import json
from typing import Any

import httpx

from ag2api.testing.fake_upstream import FakeUpstream
from tests.support.anthropic_sse_rules import check, final_message, parse
from tests.support.claude_code_requests import (
    ATTRIBUTION,
    FORBIDDEN_SCHEMA_KEYS,
    REMINDER,
    first_request,
    headers,
    second_turn_system,
    tool_result_turns,
    walk,
)

# Fields of the client body that must never reach Antigravity (peers' most reported 400s).
NEVER_UPSTREAM = (
    "cache_control",
    "context_management",
    "output_config",
    "metadata",
    "defer_loading",
    "display",
    "user_id",
)


def assert_clean(request: dict[str, Any]) -> None:
    keys = {k for k, _ in walk(request)}
    assert not keys & set(NEVER_UPSTREAM), keys & set(NEVER_UPSTREAM)
    for decl in request["tools"][0]["functionDeclarations"]:
        schema_keys = {k for k, _ in walk(decl["parameters"])}
        assert not schema_keys & set(FORBIDDEN_SCHEMA_KEYS), (decl["name"], schema_keys)
    assert ATTRIBUTION not in json.dumps(request)


async def post(
    base_url: str, body: dict[str, Any], *, bearer: bool = False
) -> tuple[int, list[tuple[str | None, dict[str, Any]]]]:
    async with httpx.AsyncClient(timeout=30) as http:
        answer = await http.post(
            base_url + "/v1/messages?beta=true", json=body, headers=headers(bearer=bearer)
        )
    if answer.headers["content-type"].startswith("text/event-stream"):
        return answer.status_code, parse(answer.content)
    return answer.status_code, [(None, answer.json())]


async def test_claude_code_tool_run_end_to_end(fake: FakeUpstream, base_url: str) -> None:
    body = first_request()  # claude-opus-5-5, Claude Code 2.1.332's default model
    body["messages"][0]["content"][-1]["text"] = "run the marker command with Bash now"
    status, events = await post(base_url, body)  # ANTHROPIC_API_KEY: x-api-key
    assert status == 200, events
    check(events)
    message = final_message(events)
    assert message["model"] == "claude-opus-5-5"  # echoed as asked
    assert [b["type"] for b in message["content"]] == ["thinking", "tool_use"]
    call = message["content"][1]
    assert call["name"] == "Bash" and call["input"]["command"] == "command-value"

    recorded = fake.generate_requests()[-1].body
    # Resolved through the shipped aliases: the best Claude thinking model the accounts list.
    assert recorded["model"] == "claude-sonnet-4-5-thinking"
    request = recorded["request"]
    assert_clean(request)
    system = [p["text"] for p in request["systemInstruction"]["parts"]]
    # upstream.sensitive_words: the identity the backend refuses goes with U+200B in it.
    assert system[0] == "You are a Claude agent, built on Anthropic's C\u200blaude Agent SDK."
    assert any(t.startswith("# Environment") for t in system)  # the mid-conversation system turn
    user = [p["text"] for p in request["contents"][0]["parts"]]
    assert user[0] == REMINDER  # <system-reminder> blocks stay user text
    gen = request["generationConfig"]
    assert gen["thinkingConfig"]["includeThoughts"] is True  # adaptive thinking + effort
    assert gen["maxOutputTokens"] <= 64000  # 128000 asked; Claude's cap
    assert request["toolConfig"]["functionCallingConfig"]["mode"] == "VALIDATED"
    names = [d["name"] for d in request["tools"][0]["functionDeclarations"]]
    assert names == ["Bash", "Edit", "Read", "DeferredToolPlaceholder"]  # web_search dropped

    # Turn 2 as Claude Code sends it: the blocks replayed verbatim, the result, a string system.
    body = first_request()
    body["messages"] += tool_result_turns(message["content"], "ag2api-tool-ok")
    second_turn_system(body)
    status, events = await post(base_url, body, bearer=True)  # ANTHROPIC_AUTH_TOKEN: Bearer
    assert status == 200, events
    check(events)
    answer = final_message(events)
    assert answer["stop_reason"] == "end_turn"
    assert "ag2api-tool-ok" in answer["content"][-1]["text"]
    request = fake.generate_requests()[-1].body["request"]
    assert_clean(request)
    replayed = request["contents"][1]["parts"]
    assert replayed[0]["thought"] is True and "functionCall" in replayed[1]
    assert request["contents"][2]["parts"][0]["functionResponse"]["name"] == "Bash"


RESOLVED = {
    "claude-opus-5-5": "claude-sonnet-4-5-thinking",  # no opus listed: the best sonnet
    "claude-sonnet-4-5-20250929": "claude-sonnet-4-5-thinking",
    "claude-opus-4-1[1m]": "claude-sonnet-4-5-thinking",
    "claude-haiku-4-5-20251001": "gemini-2.5-flash",  # background work: a fast Gemini
    "gemini-3-pro-high": "gemini-3-pro-high",
}


async def test_claude_code_model_ids_resolve(fake: FakeUpstream, base_url: str) -> None:
    for sent, resolved in RESOLVED.items():
        body = first_request(sent)
        body["stream"] = False
        status, [(_, message)] = await post(base_url, body)
        assert status == 200, message
        assert message["model"] == sent.removesuffix("[1m]")
        assert fake.generate_requests()[-1].body["model"] == resolved
        assert_clean(fake.generate_requests()[-1].body["request"])
    status, [(_, error)] = await post(base_url, first_request("gpt-4o"))
    assert status == 404 and error["error"]["type"] == "not_found_error"
