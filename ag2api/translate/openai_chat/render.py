"""What the non-stream and stream chat answers render alike: finish reason, usage, ids."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from ag2api.translate.gemini import CONTENT_FILTER_REASONS, Usage, output_tokens
from ag2api.translate.gemini import usage as read_usage


def finish_reason(upstream: str | None, saw_tool_calls: bool) -> str:
    """STOP → stop (tool_calls when calls were emitted), MAX_TOKENS → length, safety → filter."""
    if saw_tool_calls:
        return "tool_calls"
    if upstream == "MAX_TOKENS":
        return "length"
    if upstream in CONTENT_FILTER_REASONS:
        return "content_filter"
    return "stop"


def usage(meta: Usage | Mapping[str, Any] | None) -> dict[str, Any]:
    """OpenAI usage from the upstream's (``usageMetadata`` or its :class:`Usage` event).

    ``completion_tokens`` includes the thinking tokens, as OpenAI's does for reasoning models, and
    ``completion_tokens_details.reasoning_tokens`` says how many of them were thoughts. When the
    upstream's counts show that ``candidatesTokenCount`` already includes the thoughts
    (prompt + candidates == total), they are not added twice. ``total = prompt + completion``.
    """
    u = meta if isinstance(meta, Usage) else read_usage(dict(meta or {}))
    completion = output_tokens(u)
    return {
        "prompt_tokens": u.prompt,
        "completion_tokens": completion,
        "total_tokens": u.prompt + completion,
        "prompt_tokens_details": {"cached_tokens": u.cached},
        "completion_tokens_details": {"reasoning_tokens": u.thoughts},
    }


def new_completion_id() -> str:
    return f"chatcmpl-{uuid.uuid4().hex}"


def new_tool_call_id() -> str:
    return f"call_{uuid.uuid4().hex[:24]}"
