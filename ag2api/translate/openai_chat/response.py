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
from ag2api.translate.openai_chat.reply import ReplyPlan
from ag2api.translate.signatures import ThinkingRecord, encode_call_id


class ToolCallBuilder:
    """Turns ``functionCall`` parts into OpenAI tool calls with ids that carry the signatures.

    Gemini: a call's ``thoughtSignature`` is packed into the id it gets (see ``signatures``).
    Claude: the thinking text and signature seen before a call are kept in ``records`` under the
    call id, for the gateway's cache. With ``single`` (``parallel_tool_calls: false``) calls after
    the first are dropped — the backend has no switch for it, so this is enforced here.
    """

    __slots__ = ("_count", "_is_claude", "_signature", "_single", "_thought", "records", "reply")

    def __init__(
        self, *, is_claude: bool, single: bool = False, reply: ReplyPlan | None = None
    ) -> None:
        self._is_claude = is_claude
        self.reply = reply or ReplyPlan()
        # A legacy function_call answer holds one call.
        self._single = single or self.reply.legacy_functions
        self._count = 0
        self._thought: list[str] = []
        self._signature: str | None = None
        self.records: dict[str, ThinkingRecord] = {}

    def observe(self, part: dict[str, Any]) -> None:
        """Note thinking text and signatures from any part (only Claude needs them)."""
        if self._is_claude:
            if part.get("thought") and isinstance(part.get("text"), str):
                self._thought.append(part["text"])
            signature = part_signature(part)
            if signature:
                self._signature = signature

    def call(self, part: dict[str, Any]) -> dict[str, Any] | None:
        if self._single and self._count:
            return None
        self._count += 1
        fc = part["functionCall"]
        name = str(fc.get("name", ""))
        args = self.reply.call_args(name, fc.get("args"))
        upstream_id = fc.get("id") if isinstance(fc.get("id"), str) and fc.get("id") else None
        if self._is_claude:
            call_id = upstream_id or new_tool_call_id()
            if self._signature:
                self.records[call_id] = ThinkingRecord("".join(self._thought), self._signature)
        else:
            call_id = encode_call_id(upstream_id or new_tool_call_id(), part_signature(part))
        return {
            "id": call_id,
            "type": "function",
            "function": {
                "name": name,
                "arguments": json.dumps(
                    args if isinstance(args, dict) else {},
                    ensure_ascii=False,
                    separators=(",", ":"),
                ),
            },
        }


def part_signature(part: dict[str, Any]) -> str | None:
    sig = part.get("thoughtSignature") or part.get("thought_signature")
    return sig if isinstance(sig, str) and sig else None


def inline_image(part: dict[str, Any]) -> dict[str, Any] | None:
    data = part.get("inlineData") or part.get("inline_data")
    return data if isinstance(data, dict) else None


def image_url(data: dict[str, Any]) -> str:
    mime = data.get("mimeType") or data.get("mime_type") or "image/png"
    return f"data:{mime};base64,{data.get('data', '')}"


def image_markdown(data: dict[str, Any]) -> str:
    return f"![image]({image_url(data)})"


def to_chat_completion(
    response: dict[str, Any],
    *,
    completion_id: str,
    model: str,
    created: int,
    calls: ToolCallBuilder | None = None,
) -> dict[str, Any]:
    """One ``chat.completion``; ``calls`` (pass one to read its ``records``) builds tool calls."""
    builder = calls or ToolCallBuilder(is_claude=model.startswith("claude"))
    parts, reason = candidate_parts(response)
    text: list[str] = []
    thoughts: list[str] = []
    tool_calls: list[dict[str, Any]] = []
    images: list[dict[str, Any]] = []
    for part in parts:
        if not isinstance(part, dict):
            continue
        builder.observe(part)
        if "functionCall" in part:
            if (call := builder.call(part)) is not None:
                tool_calls.append(call)
        elif (data := inline_image(part)) is not None:
            text.append(image_markdown(data))
            images.append(
                {"type": "image_url", "index": len(images), "image_url": {"url": image_url(data)}}
            )
        elif isinstance(part.get("text"), str):
            (thoughts if part.get("thought") else text).append(part["text"])
    reply = builder.reply
    message: dict[str, Any] = {
        "role": "assistant",
        "content": reply.content_text("".join(text)) if text or not tool_calls else None,
        "refusal": None,
    }
    if thoughts:
        message["reasoning_content"] = "".join(thoughts)
    if tool_calls and reply.legacy_functions:
        message["function_call"] = tool_calls[0]["function"]
    elif tool_calls:
        message["tool_calls"] = tool_calls
    if images:
        message["images"] = images
    finish = (
        "content_filter" if prompt_blocked(response) else finish_reason(reason, bool(tool_calls))
    )
    if finish == "tool_calls" and reply.legacy_functions:
        finish = "function_call"
    return {
        "id": completion_id,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish}],
        "usage": usage(response.get("usageMetadata")),
    }
