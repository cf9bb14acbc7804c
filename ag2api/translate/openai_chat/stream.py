"""Typed Gemini events → OpenAI ``chat.completion.chunk`` dicts, one translator per stream."""

from __future__ import annotations

from typing import Any

from ag2api.models.families import is_claude
from ag2api.translate.dialect import openai_usage
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
from ag2api.translate.openai_chat.render import (
    ToolCallBuilder,
    finish_reason,
    image_markdown,
    image_url,
)


class ChatStreamTranslator:
    """``feed(chunk)`` → chunks to send now; ``finish()`` → the closing chunk(s).

    Holds what must cross chunks: whether the role was sent, tool-call indexes, the upstream
    finish reason (Gemini may send it before a usage-only chunk) and the latest cumulative usage.
    """

    __slots__ = (
        "_base",
        "_blocked",
        "_calls",
        "_finish",
        "_held",
        "_images",
        "_include_usage",
        "_started",
        "_usage",
        "calls",
    )

    def __init__(
        self,
        *,
        completion_id: str,
        model: str,
        created: int,
        include_usage: bool,
        calls: ToolCallBuilder | None = None,
    ) -> None:
        self._base = {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
        }
        self._include_usage = include_usage
        self._started = False
        self._calls = 0
        self._finish: str | None = None
        self._usage: Usage | None = None
        self._blocked = False
        self._images = 0
        self.calls = calls or ToolCallBuilder(is_claude=is_claude(model))
        # Structured output whose schema had typed enum members is held back and sent whole at
        # the end, once it can be parsed and given its types back (None: stream as it comes).
        self._held: list[str] | None = [] if self.calls.info.content is not None else None

    def _chunk(self, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        chunk = {
            **self._base,
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
        }
        if self._include_usage:
            chunk["usage"] = None
        return chunk

    def feed(self, events: list[Event]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        if not self._started:
            self._started = True
            out.append(self._chunk({"role": "assistant", "content": ""}))
        for event in events:
            if type(event) is Text:
                if self._held is not None:
                    self._held.append(event.text)
                else:
                    out.append(self._chunk({"content": event.text}))
            elif type(event) is Usage:
                self._usage = event
            elif type(event) is Thought:
                self.calls.thought(event.text)
                out.append(self._chunk({"reasoning_content": event.text}))
            elif type(event) is ToolCall:
                built = self.calls.build(event)
                if built is None:
                    continue
                if self.calls.info.legacy_functions:
                    out.append(self._chunk({"function_call": built["function"]}))
                else:
                    out.append(self._chunk({"tool_calls": [{"index": self._calls, **built}]}))
                self._calls += 1
            elif type(event) is Finish:
                self._finish = event.reason
            elif type(event) is Signature:
                self.calls.signature(event.value)
            elif type(event) is Image:
                image = {
                    "type": "image_url",
                    "index": self._images,
                    "image_url": {"url": image_url(event)},
                }
                self._images += 1
                out.append(self._chunk({"content": image_markdown(event), "images": [image]}))
            elif type(event) is Blocked:
                self._blocked = True
        return out

    def usage(self) -> dict[str, Any]:
        """The OpenAI usage of what has been seen so far (for the request log)."""
        return openai_usage(self._usage)

    def finish(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        delta: dict[str, Any] = {} if self._started else {"role": "assistant", "content": ""}
        if self._held:
            text = self.calls.info.content_text("".join(self._held))
            self._held = []
            out.append(self._chunk({**delta, "content": text}))
            delta = {}
        reason = "content_filter" if self._blocked else finish_reason(self._finish, self._calls > 0)
        if reason == "tool_calls" and self.calls.info.legacy_functions:
            reason = "function_call"
        out.append(self._chunk(delta, reason))
        if self._include_usage:
            out.append({**self._base, "choices": [], "usage": openai_usage(self._usage)})
        return out
