"""The Anthropic answer the completion handler drives (``translate.dialect.Answer``), and the
whole (non-stream) ``message`` rendered from typed Gemini events.

Stateless across requests: thinking and tool-call signatures travel to the client (``signatures``),
so ``thinking_records`` is always empty.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ag2api.models.families import is_claude
from ag2api.translate.anthropic_messages import render
from ag2api.translate.anthropic_messages.request import RequestInfo
from ag2api.translate.anthropic_messages.stream import MessagesStreamTranslator
from ag2api.translate.dialect import SseEvent, openai_usage
from ag2api.translate.gemini.events import (
    Blocked,
    Event,
    Finish,
    Image,
    Reply,
    Signature,
    Text,
    Thought,
    ToolCall,
    Usage,
)
from ag2api.translate.signatures import ThinkingRecord


class MessagesAnswer:
    __slots__ = ("_info", "_message_id", "_name", "_stream", "_usage")

    def __init__(self, name: str, info: RequestInfo, message_id: str) -> None:
        self._name = name  # the model name the client asked for, echoed back
        self._info = info
        self._message_id = message_id
        self._stream = MessagesStreamTranslator(name, info, message_id)
        self._usage: Usage | None = None

    def feed(self, reply: Reply) -> list[SseEvent]:
        events = reply.events
        self._note_usage(events)
        return self._stream.feed(events)

    def finish(self) -> list[SseEvent]:
        return self._stream.finish()

    def whole(self, reply: Reply) -> dict[str, Any]:
        events = reply.events
        self._note_usage(events)
        return to_message(events, model=self._name, info=self._info, message_id=self._message_id)

    def usage(self) -> dict[str, Any]:
        """OpenAI-shaped usage (the log, metrics and statistics speak it for every dialect)."""
        return openai_usage(self._usage)

    def thinking_records(self) -> dict[str, ThinkingRecord]:
        return {}

    def _note_usage(self, events: list[Event]) -> None:
        for event in events:
            if isinstance(event, Usage):
                self._usage = event


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
            if thinking is not None and signature is None:
                signature = (
                    event.signature
                )  # Gemini signs its thinking on the tool call (Claude may)
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
