"""Gemini ``generateContent`` response → OpenAI ``chat.completion`` (non-stream)."""

from __future__ import annotations

import json
from typing import Any

from ag2api.translate.common import (
    candidate_parts,
    finish_reason,
    new_tool_call_id,
    prompt_blocked,
    usage,
)


def tool_call(part: dict[str, Any]) -> dict[str, Any]:
    """A Gemini ``functionCall`` part as an OpenAI tool call (arguments as a JSON string)."""
    call = part["functionCall"]
    args = call.get("args")
    call_id = call.get("id")
    return {
        "id": call_id if isinstance(call_id, str) and call_id else new_tool_call_id(),
        "type": "function",
        "function": {
            "name": str(call.get("name", "")),
            "arguments": json.dumps(
                args if isinstance(args, dict) else {}, ensure_ascii=False, separators=(",", ":")
            ),
        },
    }


def image_markdown(part: dict[str, Any]) -> str:
    data = part.get("inlineData") or part.get("inline_data") or {}
    mime = data.get("mimeType") or data.get("mime_type") or "image/png"
    return f"![image](data:{mime};base64,{data.get('data', '')})"


def to_chat_completion(
    response: dict[str, Any], *, completion_id: str, model: str, created: int
) -> dict[str, Any]:
    parts, reason = candidate_parts(response)
    text: list[str] = []
    thoughts: list[str] = []
    calls: list[dict[str, Any]] = []
    for part in parts:
        if not isinstance(part, dict):
            continue
        if "functionCall" in part:
            calls.append(tool_call(part))
        elif "inlineData" in part or "inline_data" in part:
            text.append(image_markdown(part))
        elif isinstance(part.get("text"), str):
            (thoughts if part.get("thought") else text).append(part["text"])
    message: dict[str, Any] = {
        "role": "assistant",
        "content": "".join(text) if text or not calls else None,
        "refusal": None,
    }
    if thoughts:
        message["reasoning_content"] = "".join(thoughts)
    if calls:
        message["tool_calls"] = calls
    finish = "content_filter" if prompt_blocked(response) else finish_reason(reason, bool(calls))
    return {
        "id": completion_id,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish}],
        "usage": usage(response.get("usageMetadata")),
    }
