"""Request bodies shaped like Claude Code 2.1.332's (docs/clients/recorded-requests.md)."""

from __future__ import annotations

import copy
from typing import Any

ATTRIBUTION = "x-anthropic-billing-header: cc_version=2.1.332.9ea; cc_entrypoint=sdk-cli;"
EPHEMERAL = {"type": "ephemeral"}

BASH = {
    "name": "Bash",
    "description": "Executes a bash command and returns its output.",
    "input_schema": {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "properties": {
            "command": {"description": "The command to execute", "type": "string"},
            "timeout": {
                "description": "Optional timeout in milliseconds",
                "type": "number",
                "exclusiveMinimum": 0,
                "maximum": 9007199254740991,
            },
            "description": {"type": "string"},
            "run_in_background": {"type": "boolean"},
        },
        "required": ["command"],
        "additionalProperties": False,
    },
}
READ = {
    "name": "Read",
    "description": "Reads a file from the local filesystem.",
    "input_schema": {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "properties": {
            "file_path": {"type": "string", "pattern": "^/"},
            "offset": {"type": "integer", "exclusiveMinimum": 0, "default": 1},
            "limit": {"type": "integer", "exclusiveMinimum": 0},
        },
        "required": ["file_path"],
        "additionalProperties": False,
    },
    "cache_control": EPHEMERAL,
}
EDIT = {
    "name": "Edit",
    "description": "Performs exact string replacements in files.",
    "input_schema": {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "properties": {
            "file_path": {"type": "string"},
            "old_string": {"type": "string"},
            "new_string": {"type": "string"},
            "replace_all": {"type": "boolean", "default": False},
            "edits": {
                "type": "array",
                "maxItems": 10,
                "items": {"type": "object", "properties": {}, "additionalProperties": False},
            },
        },
        "required": ["file_path", "old_string", "new_string"],
        "additionalProperties": False,
    },
}
PLACEHOLDER_TOOL = {
    "name": "DeferredToolPlaceholder",
    "description": "Reserved placeholder that keeps deferred tool loading active.",
    "input_schema": {"type": "object", "properties": {}},
    "defer_loading": True,
}
WEB_SEARCH = {"type": "web_search_20250305", "name": "web_search", "max_uses": 8}

SYSTEM = [
    {"type": "text", "text": ATTRIBUTION},
    {
        "type": "text",
        "text": "You are a Claude agent, built on Anthropic's Claude Agent SDK.",
        "cache_control": EPHEMERAL,
    },
    {
        "type": "text",
        "text": "\nYou are an agent working with the user.",
        "cache_control": EPHEMERAL,
    },
]
REMINDER = "<system-reminder>\nAttribution for git commits.\n</system-reminder>"
ENVIRONMENT = "# Environment\nYou have been invoked in the following environment."
PROMPT = "run the marker command with Bash"


def first_request(model: str = "claude-opus-5-5") -> dict[str, Any]:
    """Turn 1: array system with the attribution block, reminders, a mid-conversation system
    turn, cache_control everywhere, adaptive thinking, effort, context management, metadata."""
    return copy.deepcopy(
        {
            "model": model,
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": REMINDER},
                        {"type": "text", "text": PROMPT, "cache_control": EPHEMERAL},
                    ],
                },
                {
                    "role": "system",
                    "content": [{"type": "text", "text": ENVIRONMENT, "cache_control": EPHEMERAL}],
                    "output_config": {"effort": "medium"},
                },
            ],
            "system": SYSTEM,
            "tools": [BASH, EDIT, READ, PLACEHOLDER_TOOL, WEB_SEARCH],
            "metadata": {"user_id": '{"device_id":"28f8","account_uuid":"","session_id":"f9c2"}'},
            "max_tokens": 128000,
            "thinking": {"type": "adaptive", "display": "omitted"},
            "context_management": {"edits": [{"type": "clear_thinking_20251015", "keep": "all"}]},
            "output_config": {"effort": "medium"},
            "stream": True,
        }
    )


def tool_result_request(
    assistant_content: list[dict[str, Any]], tool_use_id: str, model: str = "claude-opus-5-5"
) -> dict[str, Any]:
    """Turn 2: the assistant turn replayed as the client got it, then the tool result."""
    body = first_request(model)
    body["messages"] += [
        {"role": "assistant", "content": assistant_content},
        {
            "role": "user",
            "content": [
                {
                    "tool_use_id": tool_use_id,
                    "type": "tool_result",
                    "content": "ag2api-tool-ok",
                    "is_error": False,
                    "cache_control": EPHEMERAL,
                },
                {"type": "text", "text": REMINDER},
            ],
        },
    ]
    return body
