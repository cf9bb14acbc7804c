"""What the non-stream and stream chat answers render alike: finish reason, ids, tool calls
(with the signatures their ids carry), images."""

from __future__ import annotations

import json
from typing import Any

from ag2api.ids import random_hex
from ag2api.translate.gemini.events import CONTENT_FILTER_REASONS, Image, ToolCall
from ag2api.translate.openai_chat.request import RequestInfo
from ag2api.translate.signatures import ThinkingRecord, encode_call_id, new_tool_call_id


def finish_reason(upstream: str | None, saw_tool_calls: bool) -> str:
    """STOP → stop (tool_calls when calls were emitted), MAX_TOKENS → length, safety → filter."""
    if saw_tool_calls:
        return "tool_calls"
    if upstream == "MAX_TOKENS":
        return "length"
    if upstream in CONTENT_FILTER_REASONS:
        return "content_filter"
    return "stop"


def new_completion_id() -> str:
    return f"chatcmpl-{random_hex()}"


class ToolCallBuilder:
    """Turns tool-call events into OpenAI tool calls with ids that carry the signatures.

    Gemini: a tool call's ``thoughtSignature`` is packed into the id it gets (see ``signatures``).
    Claude: the thinking text and signature seen before a tool call are kept in ``records`` under
    its id, for the gateway's cache. With ``single`` (``parallel_tool_calls: false``) calls after
    the first are dropped — the backend has no switch for it, so this is enforced here.
    """

    __slots__ = ("_count", "_is_claude", "_signature", "_single", "_thought", "info", "records")

    def __init__(
        self, *, is_claude: bool, single: bool = False, info: RequestInfo | None = None
    ) -> None:
        self._is_claude = is_claude
        self.info = info or RequestInfo()
        # A legacy function_call answer holds one tool call.
        self._single = single or self.info.legacy_functions
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

    def build(self, event: ToolCall) -> dict[str, Any] | None:
        if self._is_claude and event.signature:
            self._signature = event.signature  # Claude may sign the tool call's part itself
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
                "arguments": arguments_json(self.info.call_args(event.name, event.args)),
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
