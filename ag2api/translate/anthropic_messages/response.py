"""Typed Gemini events → one non-stream Anthropic ``message``."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ag2api.models.families import is_claude
from ag2api.translate.anthropic_messages import render
from ag2api.translate.anthropic_messages.request import RequestInfo
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
)


def to_message(
    events: Iterable[Event], *, model: str, info: RequestInfo, message_id: str
) -> dict[str, Any]:
    """``model`` is the name the client asked for; ``info.model`` the upstream one.

    Blocks come in upstream order: a thinking block collects consecutive thoughts and takes the
    last signature seen while it is open (Claude sends it on a trailing empty part).
    """
    content: list[dict[str, Any]] = []
    thinking: dict[str, Any] | None = None  # the open thinking block
    signature: str | None = None
    finish: str | None = None
    usage: Usage | None = None
    blocked = saw_tool_use = False
    claude = is_claude(info.model)

    def close_thinking() -> None:
        nonlocal thinking, signature
        if thinking is not None:
            thinking["signature"] = render.thinking_signature(info.model, signature)
        thinking, signature = None, None

    for event in events:
        if isinstance(event, Thought):
            if thinking is None:
                thinking = {"type": "thinking", "thinking": "", "signature": ""}
                content.append(thinking)
            thinking["thinking"] += event.text
        elif isinstance(event, Signature):
            if thinking is None and claude:
                # A signature with no thought text before it still signs a (blank) block.
                thinking = {"type": "thinking", "thinking": "", "signature": ""}
                content.append(thinking)
            if thinking is not None:
                signature = event.value
        elif isinstance(event, Text):
            close_thinking()
            if content and content[-1]["type"] == "text":
                content[-1]["text"] += event.text
            else:
                content.append({"type": "text", "text": event.text})
        elif isinstance(event, ToolCall):
            if claude and thinking is not None and signature is None:
                signature = event.signature  # in case Claude signs the call, not a part of its own
            close_thinking()
            content.append(render.tool_use_block(event, info))
            saw_tool_use = True
        elif isinstance(event, Image):
            close_thinking()
            content.append({"type": "text", "text": render.image_markdown(event)})
        elif isinstance(event, Finish):
            finish = event.reason
        elif isinstance(event, Usage):
            usage = event
        elif isinstance(event, Blocked):
            blocked = True
    close_thinking()
    return {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": render.stop_reason(finish, saw_tool_use=saw_tool_use, blocked=blocked),
        "stop_sequence": None,
        "usage": render.usage(usage),
    }
