"""What Claude Code 2.1.332 sends to ``/v1/messages`` (docs/clients/recorded-requests.md): its
headers and the bodies of a tool run.

The bodies reuse the translator tests' recorded shapes (array system with the attribution block,
``<system-reminder>`` blocks, a mid-conversation ``system`` turn, ``cache_control`` everywhere,
adaptive thinking with ``display: omitted``, ``output_config.effort``, ``context_management``,
``metadata.user_id`` as a JSON string, Bash/Read/Edit schemas with 2020-12 keywords).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from tests.support.claude_code_fixtures import (
    ATTRIBUTION,
    EPHEMERAL,
    REMINDER,
    first_request,
)
from tests.support.clients import API_KEY

__all__ = ["ATTRIBUTION", "REMINDER", "first_request"]

SESSION = "f9c2da22-1ca9-4a78-83c3-a36763687f83"
# Claude Code's headers (first request of a tool run); the key goes in x-api-key or Bearer.
HEADERS = {
    "Accept": "application/json",
    "Content-Type": "application/json",
    "User-Agent": "claude-cli/2.1.332 (external, sdk-cli)",
    "X-Claude-Code-Session-Id": SESSION,
    "X-Stainless-Arch": "x64",
    "X-Stainless-Lang": "js",
    "X-Stainless-OS": "Linux",
    "X-Stainless-Package-Version": "0.128.0",
    "X-Stainless-Retry-Count": "0",
    "X-Stainless-Runtime": "node",
    "X-Stainless-Timeout": "600",
    "anthropic-beta": "claude-code-20250219,interleaved-thinking-2025-05-14,"
    "context-management-2025-06-27,per-turn-control-2026-07-01,"
    "mid-conversation-tool-changes-2026-07-01,thinking-token-count-2026-05-13,"
    "advanced-tool-use-2025-11-20,effort-2025-11-24",
    "anthropic-dangerous-direct-browser-access": "true",
    "anthropic-version": "2023-06-01",
    "x-app": "cli",
}
# JSON Schema keywords Claude Code's tool schemas use that the upstream rejects.
FORBIDDEN_SCHEMA_KEYS = ("$schema", "additionalProperties", "exclusiveMinimum", "default")


def headers(*, bearer: bool = False, key: str = API_KEY) -> dict[str, str]:
    auth = {"Authorization": f"Bearer {key}"} if bearer else {"x-api-key": key}
    return {**HEADERS, **auth}


def tool_result_turns(assistant: list[dict[str, Any]], result: str) -> list[dict[str, Any]]:
    """Turn 2's tail as Claude Code sends it: the assistant content replayed verbatim, then the
    tool results (plain string content, ``is_error: false``, ``cache_control`` on the last)."""
    calls = [b for b in assistant if b.get("type") == "tool_use"]
    results: list[dict[str, Any]] = [
        {"tool_use_id": c["id"], "type": "tool_result", "content": result, "is_error": False}
        for c in calls
    ]
    results[-1]["cache_control"] = EPHEMERAL
    return [{"role": "assistant", "content": assistant}, {"role": "user", "content": results}]


def second_turn_system(body: dict[str, Any]) -> None:
    """From turn 2 on the mid-conversation system turn's content is a plain string (recorded)."""
    for msg in body["messages"]:
        if msg["role"] == "system" and isinstance(msg["content"], list):
            msg["content"] = "\n".join(b["text"] for b in msg["content"])


def walk(value: Any) -> Iterator[tuple[str, Any]]:
    """Every (key, value) of every object nested in ``value``."""
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            for k, v in node.items():
                yield k, v
                stack.append(v)
        elif isinstance(node, list):
            stack.extend(node)


def dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)
