"""Typed Gemini events → Anthropic SSE events (name, data), one translator per stream.

The contract (docs/clients/claude-code.md, "Streaming contract"): ``message_start`` first; blocks
with contiguous indexes, each opened once and closed once; a thinking block's ``signature_delta``
right before its stop; a tool call as start + one ``input_json_delta`` + stop; then
``message_delta`` (stop reason, cumulative usage) and ``message_stop``. Claude Code stops reading on
a block it never saw started or a second stop, so the open block is the only state that matters.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ag2api.jsoncodec import dumps_bytes
from ag2api.models.families import is_claude
from ag2api.translate.anthropic_messages import render
from ag2api.translate.anthropic_messages.request import RequestInfo
from ag2api.translate.dialect import SseEvent
from ag2api.translate.gemini.events import (
    Event,
    Image,
    Outcome,
    Signature,
    Text,
    Thought,
    ToolCall,
    Usage,
)

PING: SseEvent = ("ping", {"type": "ping"})


def encode(event: SseEvent) -> bytes:
    """One SSE frame with its ``event:`` line (the Anthropic SDKs need it)."""
    name, data = event
    return b"event: " + str(name).encode() + b"\ndata: " + dumps_bytes(data) + b"\n\n"


class MessagesStreamTranslator:
    """``feed(events)`` → SSE events to send now; ``finish()`` → the closing ones."""

    __slots__ = (
        "_claude",
        "_end",
        "_index",
        "_info",
        "_message_id",
        "_model",
        "_open",
        "_signature",
        "_started",
        "_tool_use",
    )

    def __init__(self, model: str, info: RequestInfo, message_id: str) -> None:
        self._model = model  # the name the client asked for
        self._info = info
        self._message_id = message_id
        self._claude = is_claude(info.model)
        self._started = False
        self._index = -1  # index of the last block started
        self._open: str | None = None  # "thinking" | "text" while a block is open
        self._signature: str | None = None
        self._end = Outcome()
        self._tool_use = False

    @property
    def started(self) -> bool:
        return self._started

    def feed(self, events: Iterable[Event]) -> list[SseEvent]:
        out: list[SseEvent] = []
        events = list(events)
        if not self._started:
            # The first upstream chunk's usage, when it has one, fills message_start.
            self._end.usage = next((e for e in events if isinstance(e, Usage)), None)
            out.append(self._message_start())
        for event in events:
            if isinstance(event, Text):
                if self._open != "text":
                    self._start(out, {"type": "text", "text": ""}, "text")
                out.append(self._delta({"type": "text_delta", "text": event.text}))
            elif isinstance(event, Thought):
                if self._open != "thinking":
                    self._start(
                        out, {"type": "thinking", "thinking": "", "signature": ""}, "thinking"
                    )
                out.append(self._delta({"type": "thinking_delta", "thinking": event.text}))
            elif isinstance(event, Signature):
                if self._open != "thinking" and self._claude:
                    self._start(
                        out, {"type": "thinking", "thinking": "", "signature": ""}, "thinking"
                    )
                if self._open == "thinking":
                    self._signature = event.value
            elif isinstance(event, ToolCall):
                if self._open == "thinking" and self._signature is None:
                    # Gemini signs its thinking on the turn's first tool call (Claude may too).
                    self._signature = event.signature
                block = render.tool_use_block(event, self._info)
                self._tool_use = True
                self._start(out, {**block, "input": {}}, None)
                out.append(
                    self._delta(
                        {
                            "type": "input_json_delta",
                            "partial_json": render.input_json(block["input"]),
                        }
                    )
                )
                out.append(self._stop())
            elif isinstance(event, Image):
                self._start(out, {"type": "text", "text": ""}, None)
                out.append(
                    self._delta({"type": "text_delta", "text": render.image_markdown(event)})
                )
                out.append(self._stop())
            else:
                self._end.note(event)
        return out

    def finish(self) -> list[SseEvent]:
        out: list[SseEvent] = []
        if not self._started:
            out.append(self._message_start())
        self._close(out)
        reason = render.stop_reason(
            self._end.finish, saw_tool_use=self._tool_use, blocked=self._end.blocked
        )
        out.append(
            (
                "message_delta",
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": reason, "stop_sequence": None},
                    "usage": render.usage(self._end.usage),
                },
            )
        )
        out.append(("message_stop", {"type": "message_stop"}))
        return out

    def usage(self) -> dict[str, int]:
        """The Anthropic usage of what has been seen so far (for the request log)."""
        return render.usage(self._end.usage)

    # -- blocks ------------------------------------------------------------------------

    def _message_start(self) -> SseEvent:
        self._started = True
        usage = render.usage(self._end.usage)
        usage["output_tokens"] = 0
        message: dict[str, Any] = {
            "id": self._message_id,
            "type": "message",
            "role": "assistant",
            "content": [],
            "model": self._model,
            "stop_reason": None,
            "stop_sequence": None,
            "usage": usage,
        }
        return ("message_start", {"type": "message_start", "message": message})

    def _start(self, out: list[SseEvent], block: dict[str, Any], kind: str | None) -> None:
        """Close the open block and start ``block``; ``kind`` None: it is closed by the caller."""
        self._close(out)
        self._index += 1
        self._open = kind
        out.append(
            (
                "content_block_start",
                {"type": "content_block_start", "index": self._index, "content_block": block},
            )
        )

    def _delta(self, delta: dict[str, Any]) -> SseEvent:
        return (
            "content_block_delta",
            {"type": "content_block_delta", "index": self._index, "delta": delta},
        )

    def _stop(self) -> SseEvent:
        self._open = None
        return ("content_block_stop", {"type": "content_block_stop", "index": self._index})

    def _close(self, out: list[SseEvent]) -> None:
        if self._open is None:
            return
        if self._open == "thinking":
            signature = render.thinking_signature(self._info.model, self._signature)
            self._signature = None
            out.append(self._delta({"type": "signature_delta", "signature": signature}))
        out.append(self._stop())
