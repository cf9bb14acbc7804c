"""The chat answer the completion handler drives (``translate.dialect.Answer``), and the whole
(non-stream) ``chat.completion`` rendered from typed Gemini events."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ag2api.models.families import is_claude
from ag2api.translate.dialect import SseEvent, TranslationContext, openai_usage
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
from ag2api.translate.openai_chat.render import (
    ToolCallBuilder,
    finish_reason,
    image_markdown,
    image_url,
    new_completion_id,
)
from ag2api.translate.openai_chat.stream import ChatStreamTranslator
from ag2api.translate.signatures import ThinkingRecord


class ChatAnswer:
    """The chat.completion (or its chunks) for one request."""

    __slots__ = ("_ctx", "_include_usage", "_stream", "_whole_usage", "calls")

    def __init__(
        self, ctx: TranslationContext, calls: ToolCallBuilder, include_usage: bool
    ) -> None:
        self._ctx = ctx
        self.calls = calls
        self._include_usage = include_usage
        self._whole_usage: dict[str, Any] | None = None
        # Made by the first chunk: a non-stream answer never needs it (nor its completion id).
        self._stream: ChatStreamTranslator | None = None

    @property
    def stream(self) -> ChatStreamTranslator:
        if self._stream is None:
            self._stream = ChatStreamTranslator(
                completion_id=new_completion_id(),
                model=self._ctx.name,
                created=self._ctx.created,
                include_usage=self._include_usage,
                calls=self.calls,
            )
        return self._stream

    def feed(self, reply: Reply) -> list[SseEvent]:
        stream = self._stream or self.stream  # every chunk: the property only once
        return [(None, c) for c in stream.feed(reply.events)]

    def finish(self) -> list[SseEvent]:
        return [(None, c) for c in self.stream.finish()]

    def whole(self, reply: Reply) -> dict[str, Any]:
        completion = to_chat_completion(
            reply.events,
            completion_id=new_completion_id(),
            model=self._ctx.name,
            created=self._ctx.created,
            calls=self.calls,
        )
        self._whole_usage = completion.get("usage")
        return completion

    def usage(self) -> dict[str, Any]:
        if self._whole_usage is not None:
            return self._whole_usage
        return self.stream.usage()

    def thinking_records(self) -> dict[str, ThinkingRecord]:
        return self.calls.records


def to_chat_completion(
    events: Iterable[Event],
    *,
    completion_id: str,
    model: str,
    created: int,
    calls: ToolCallBuilder | None = None,
) -> dict[str, Any]:
    """One ``chat.completion``; ``calls`` (pass one to read its ``records``) builds tool calls."""
    calls = calls or ToolCallBuilder(is_claude=is_claude(model))
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
            if (built := calls.build(event)) is not None:
                tool_calls.append(built)
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
    info = calls.info
    message: dict[str, Any] = {
        "role": "assistant",
        "content": info.content_text("".join(text)) if text or not tool_calls else None,
        "refusal": None,
    }
    if thoughts:
        message["reasoning_content"] = "".join(thoughts)
    if tool_calls and info.legacy_functions:
        message["function_call"] = tool_calls[0]["function"]
    elif tool_calls:
        message["tool_calls"] = tool_calls
    if images:
        message["images"] = images
    finish = "content_filter" if blocked else finish_reason(reason, bool(tool_calls))
    if finish == "tool_calls" and info.legacy_functions:
        finish = "function_call"
    return {
        "id": completion_id,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish}],
        "usage": openai_usage(meta),
    }
