"""Typed Gemini events (``translate/gemini``) → OpenAI ``chat.completion`` (non-stream)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from ag2api.models.families import is_claude
from ag2api.translate.gemini.events import (
    Blocked,
    Event,
    Finish,
    Image,
    Signature,
    Text,
    Thought,
    ToolCall,
    Usage,
    read,
)
from ag2api.translate.openai_chat.render import finish_reason, new_tool_call_id
from ag2api.translate.openai_chat.reply import ReplyPlan
from ag2api.translate.openai_usage import openai_usage
from ag2api.translate.signatures import ThinkingRecord, encode_call_id


class ToolCallBuilder:
    """Turns tool-call events into OpenAI tool calls with ids that carry the signatures.

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

    def thought(self, text: str) -> None:
        if self._is_claude:  # only Claude's thinking is replayed, from the cache
            self._thought.append(text)

    def signature(self, value: str) -> None:
        if self._is_claude:
            self._signature = value

    def call(self, event: ToolCall) -> dict[str, Any] | None:
        if self._is_claude and event.signature:
            self._signature = event.signature  # Claude may sign the call part itself
        if self._single and self._count:
            return None
        self._count += 1
        if self._is_claude:
            call_id = event.id or new_tool_call_id()
            if self._signature:
                self.records[call_id] = ThinkingRecord("".join(self._thought), self._signature)
        else:
            call_id = encode_call_id(event.id or new_tool_call_id(), event.signature)
        return {
            "id": call_id,
            "type": "function",
            "function": {
                "name": event.name,
                "arguments": arguments_json(self.reply.call_args(event.name, event.args)),
            },
        }


def arguments_json(args: Any) -> str:
    return json.dumps(
        args if isinstance(args, dict) else {}, ensure_ascii=False, separators=(",", ":")
    )


def image_url(image: Image) -> str:
    return f"data:{image.mime_type};base64,{image.data}"


def image_markdown(image: Image) -> str:
    return f"![image]({image_url(image)})"


def to_chat_completion(
    response: dict[str, Any],
    *,
    completion_id: str,
    model: str,
    created: int,
    calls: ToolCallBuilder | None = None,
) -> dict[str, Any]:
    """One ``chat.completion``; ``calls`` (pass one to read its ``records``) builds tool calls."""
    return events_to_completion(
        read(response),
        completion_id=completion_id,
        model=model,
        created=created,
        calls=calls or ToolCallBuilder(is_claude=is_claude(model)),
    )


def events_to_completion(
    events: Iterable[Event],
    *,
    completion_id: str,
    model: str,
    created: int,
    calls: ToolCallBuilder,
) -> dict[str, Any]:
    text: list[str] = []
    thoughts: list[str] = []
    tool_calls: list[dict[str, Any]] = []
    images: list[dict[str, Any]] = []
    reason: str | None = None
    meta: Usage | None = None
    blocked = False
    for event in events:
        if isinstance(event, Text):
            text.append(event.text)
        elif isinstance(event, Thought):
            thoughts.append(event.text)
            calls.thought(event.text)
        elif isinstance(event, ToolCall):
            if (call := calls.call(event)) is not None:
                tool_calls.append(call)
        elif isinstance(event, Signature):
            calls.signature(event.value)
        elif isinstance(event, Image):
            text.append(image_markdown(event))
            images.append(
                {"type": "image_url", "index": len(images), "image_url": {"url": image_url(event)}}
            )
        elif isinstance(event, Finish):
            reason = event.reason
        elif isinstance(event, Usage):
            meta = event
        elif isinstance(event, Blocked):
            blocked = True
    reply = calls.reply
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
    finish = "content_filter" if blocked else finish_reason(reason, bool(tool_calls))
    if finish == "tool_calls" and reply.legacy_functions:
        finish = "function_call"
    return {
        "id": completion_id,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish}],
        "usage": openai_usage(meta),
    }
