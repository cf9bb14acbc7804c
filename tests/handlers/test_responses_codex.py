"""A Codex CLI tool loop replayed over raw HTTP, shaped like the recorded Codex 0.171 requests
(docs/clients/recorded-requests.md, "Codex CLI"): developer messages in ``input``, every tool type
Codex sends (function, namespace, custom ``apply_patch``, web_search, tool_search,
local_shell), ``store: false``, ``include: ["reasoning.encrypted_content"]``,
``prompt_cache_key``, ``text.verbosity``, ``client_metadata``, and the whole history replayed
each turn — output items verbatim, an OpenAI reasoning blob among them."""

from __future__ import annotations

import copy
import json
from typing import Any

from ag2api.testing.fake_upstream import FakeUpstream
from ag2api.translate.openai_responses import compaction
from tests.support.clients import API_KEY
from tests.support.http import fetch
from tests.support.responses_sse_rules import check, parse

SESSION = "01a23377-4c4c-7761-9fe6-8a2c53cbeebc"
HEADERS = {
    "Authorization": f"Bearer {API_KEY}",
    "Accept": "text/event-stream",
    "Content-Type": "application/json",
    "originator": "codex_exec",
    "User-Agent": "codex_exec/0.171.0 (Debian 12.0.0; x86_64) dumb (codex_exec; 0.171.0)",
    "session-id": SESSION,
    "x-codex-window-id": f"{SESSION}:0",
}
EXEC = {
    "type": "function",
    "name": "exec_command",
    "description": "Runs a command in a PTY, returning output or a session ID.",
    "strict": False,
    "parameters": {
        "type": "object",
        "properties": {
            "cmd": {"type": "string", "description": "Shell command to execute."},
            "login": {"type": "boolean"},
            "yield_time_ms": {"type": "number"},
            "sandbox_permissions": {"type": "string", "enum": ["use_default", "require_escalated"]},
            "prefix_rule": {"type": "array", "items": {"type": "string"}},
        },
        "required": ["cmd"],
        "additionalProperties": False,
    },
}
NAMESPACE = {
    "type": "namespace",
    "name": "multi_agent_v1",
    "description": "Sub-agents.",
    "tools": [
        {
            "type": "function",
            "name": "spawn_agent",
            "description": "Start a sub-agent.",
            "strict": False,
            "parameters": {
                "type": "object",
                "properties": {"task": {"type": "string"}},
                "required": ["task"],
            },
        }
    ],
}
APPLY_PATCH = {
    "type": "custom",
    "name": "apply_patch",
    "description": "Use the `apply_patch` tool to edit files.",
    "format": {"type": "grammar", "syntax": "lark", "definition": "start: begin_patch hunk+"},
}
OTHER_TOOLS = [
    {"type": "web_search", "external_web_access": False},
    {"type": "tool_search", "execution": "client", "description": "Find tools."},
    {"type": "local_shell"},
    {"type": "image_generation"},
]


def codex_body(model: str, user: str) -> dict[str, Any]:
    return {
        "model": model,
        "stream": True,
        "input": [
            {
                "type": "message",
                "id": "msg_e1b8cb00-9616-53bd-8bbd-e2e4aa893b5e",
                "role": "developer",
                "content": [{"type": "input_text", "text": "You are a coding agent in Codex CLI."}],
            },
            {
                "type": "message",
                "role": "developer",
                "content": [
                    {"type": "input_text", "text": "<permissions instructions>read-only"},
                    {"type": "input_text", "text": "<skills_instructions>none"},
                ],
            },
            {
                "type": "message",
                "role": "user",
                "content": [{"type": "input_text", "text": "<environment_context>bash"}],
            },
            # An OpenAI reasoning blob from an earlier provider: ignored, never a 400.
            {
                "type": "reasoning",
                "id": "rs_openai",
                "summary": [],
                "content": None,
                "encrypted_content": "gAAAAABo-opaque-openai-blob",
            },
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": user}]},
        ],
        "tools": [EXEC, NAMESPACE, APPLY_PATCH, *OTHER_TOOLS],
        "tool_choice": "auto",
        "parallel_tool_calls": True,
        "reasoning": {"effort": "medium", "summary": "auto"},
        "store": False,
        "include": ["reasoning.encrypted_content"],
        "prompt_cache_key": SESSION,
        "text": {"verbosity": "low"},
        "client_metadata": {"session_id": SESSION, "x-codex-turn-metadata": "{}"},
    }


async def post(base_url: str, body: dict[str, Any]) -> dict[str, Any]:
    answer = await fetch(base_url + "/v1/responses", body=body, headers=HEADERS)
    assert answer.code == 200, answer.body
    return check(parse(answer.body))


async def test_codex_tool_loop_with_every_tool_type(base_url: str, fake: FakeUpstream) -> None:
    body = codex_body("gemini-3-pro-high", "run the marker command with exec_command")
    first = await post(base_url, body)
    kinds = [item["type"] for item in first["output"]]
    assert kinds == ["reasoning", "function_call"]
    call = first["output"][1]
    assert call["name"] == "exec_command" and json.loads(call["arguments"])["cmd"] == "cmd-value"
    sent = fake.generate_requests()[0].body["request"]
    assert [p["text"] for p in sent["systemInstruction"]["parts"]] == [
        "You are a coding agent in Codex CLI.",
        "<permissions instructions>read-only",
        "<skills_instructions>none",
    ]
    declared = [d["name"] for d in sent["tools"][0]["functionDeclarations"]]
    assert declared == ["exec_command", "multi_agent_v1__spawn_agent", "apply_patch"]
    assert len(sent["tools"]) == 1  # web_search and the hosted tools are not sent along

    # Turn 2: Codex replays the history with the output items verbatim and the command output.
    again = copy.deepcopy(body)
    again["input"] += first["output"]
    again["input"].append(
        {
            "type": "function_call_output",
            "id": "fco_01a23377-4df7-7c50-99bc-c9147a903fae",
            "call_id": call["call_id"],
            "output": "Process exited with code 0\nOutput:\nag2api-tool-ok",
        }
    )
    second = await post(base_url, again)
    assert second["status"] == "completed"
    assert second["output"][-1]["content"][0]["text"].startswith("The tools said:")
    replayed = fake.generate_requests()[1].body["request"]
    calls = [p for t in replayed["contents"] for p in t["parts"] if "functionCall" in p]
    assert calls[0]["thoughtSignature"] in fake.issued_signatures  # carried, not the sentinel
    assert replayed["sessionId"] == sent["sessionId"]  # prompt_cache_key keys the session

    # Turn 3: a namespaced tool goes back as name + namespace, apply_patch as a custom call.
    third = await post(base_url, codex_body("gemini-2.5-flash", "use multi_agent_v1__spawn_agent"))
    spawn = third["output"][-1]
    assert (spawn["type"], spawn["name"], spawn["namespace"]) == (
        "function_call",
        "spawn_agent",
        "multi_agent_v1",
    )
    patch = await post(base_url, codex_body("gemini-2.5-flash", "now call apply_patch"))
    assert patch["output"][-1]["type"] == "custom_tool_call"
    assert patch["output"][-1]["input"] == "input-value"


async def test_codex_remote_compaction_v2(base_url: str, fake: FakeUpstream) -> None:
    """Codex (x-codex-beta-features: remote_compaction_v2) compacts with an ordinary streamed
    request ending in a compaction_trigger and fails the task unless exactly one compaction
    item comes back; the item rides in the next turns' input."""
    body = codex_body("gemini-3-pro-high", "fix the failing test")
    body["input"].append({"type": "compaction_trigger"})
    response = await post(base_url, body)
    assert response["status"] == "completed"
    assert [item["type"] for item in response["output"]] == ["compaction"]
    summary = compaction.unpack(response["output"][0]["encrypted_content"])
    assert summary is not None and "ag2api fake upstream" in summary
    sent = fake.generate_requests()[-1].body["request"]
    assert sent["toolConfig"]["functionCallingConfig"]["mode"] == "NONE"
    assert sent["contents"][-1]["parts"][-1] == {"text": compaction.PROMPT}
    # The next turn as Codex builds it: the compaction item among its retained items.
    follow = codex_body("gemini-3-pro-high", "now run the tests")
    follow["input"].insert(-1, response["output"][0])
    answer = await post(base_url, follow)
    assert answer["status"] == "completed"
    texts = [
        p.get("text", "")
        for c in fake.generate_requests()[-1].body["request"]["contents"]
        for p in c["parts"]
    ]
    assert compaction.SUMMARY_INTRO + summary in texts
