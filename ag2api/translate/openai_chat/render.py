"""What the non-stream and stream chat answers render alike: finish reason, ids."""

from __future__ import annotations

from ag2api.ids import random_hex
from ag2api.translate.gemini.events import CONTENT_FILTER_REASONS


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


def new_tool_call_id() -> str:
    return f"call_{random_hex(24)}"
