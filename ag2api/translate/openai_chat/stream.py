"""Gemini stream events → OpenAI ``chat.completion.chunk`` dicts, one translator per stream."""

from __future__ import annotations

from typing import Any

from ag2api.translate.common import candidate_parts, finish_reason, prompt_blocked, usage
from ag2api.translate.openai_chat.response import (
    ToolCallBuilder,
    image_markdown,
    image_url,
    inline_image,
)


class ChatStreamTranslator:
    """``feed(event)`` → chunks to send now; ``finish()`` → the closing chunk(s).

    Holds what must cross events: whether the role was sent, tool-call indexes, the upstream
    finish reason (Gemini may send it before a usage-only event) and the latest cumulative usage.
    """

    __slots__ = (
        "_base",
        "_blocked",
        "_calls",
        "_finish",
        "_held",
        "_images",
        "_include_usage",
        "_meta",
        "_started",
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
        self._meta: dict[str, Any] | None = None
        self._blocked = False
        self._images = 0
        self.calls = calls or ToolCallBuilder(is_claude=model.startswith("claude"))
        # Structured output whose schema had typed enum members is held back and sent whole at
        # the end, once it can be parsed and given its types back (None: stream as it comes).
        self._held: list[str] | None = [] if self.calls.reply.content is not None else None

    def _chunk(self, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        chunk = {
            **self._base,
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
        }
        if self._include_usage:
            chunk["usage"] = None
        return chunk

    def feed(self, event: dict[str, Any]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        if not self._started:
            self._started = True
            out.append(self._chunk({"role": "assistant", "content": ""}))
        parts, reason = candidate_parts(event)
        if reason:
            self._finish = reason
        meta = event.get("usageMetadata")
        if isinstance(meta, dict):
            self._meta = meta
        if prompt_blocked(event):
            self._blocked = True
        for part in parts:
            if not isinstance(part, dict):
                continue
            self.calls.observe(part)
            if "functionCall" in part:
                built = self.calls.call(part)
                if built is not None and self.calls.reply.legacy_functions:
                    out.append(self._chunk({"function_call": built["function"]}))
                    self._calls += 1
                elif built is not None:
                    out.append(self._chunk({"tool_calls": [{"index": self._calls, **built}]}))
                    self._calls += 1
            elif (data := inline_image(part)) is not None:
                image = {
                    "type": "image_url",
                    "index": self._images,
                    "image_url": {"url": image_url(data)},
                }
                self._images += 1
                out.append(self._chunk({"content": image_markdown(data), "images": [image]}))
            else:
                text = part.get("text")
                if isinstance(text, str) and text:
                    if self._held is not None and not part.get("thought"):
                        self._held.append(text)
                        continue
                    key = "reasoning_content" if part.get("thought") else "content"
                    out.append(self._chunk({key: text}))
        return out

    def usage(self) -> dict[str, Any]:
        """The OpenAI usage of what has been seen so far (for the request log)."""
        return usage(self._meta)

    def finish(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        delta: dict[str, Any] = {} if self._started else {"role": "assistant", "content": ""}
        if self._held:
            text = self.calls.reply.content_text("".join(self._held))
            self._held = []
            out.append(self._chunk({**delta, "content": text}))
            delta = {}
        reason = "content_filter" if self._blocked else finish_reason(self._finish, self._calls > 0)
        if reason == "tool_calls" and self.calls.reply.legacy_functions:
            reason = "function_call"
        out.append(self._chunk(delta, reason))
        if self._include_usage:
            out.append({**self._base, "choices": [], "usage": usage(self._meta)})
        return out
