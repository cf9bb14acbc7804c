"""Finish-reason and usage mapping shared by the non-stream and stream translators."""

from __future__ import annotations

import uuid
from typing import Any

from ag2api.errors import InvalidRequest

CONTENT_FILTER_REASONS = frozenset(
    {
        "SAFETY",
        "RECITATION",
        "BLOCKLIST",
        "PROHIBITED_CONTENT",
        "SPII",
        "IMAGE_SAFETY",
        "IMAGE_PROHIBITED_CONTENT",
        "LANGUAGE",
    }
)


def finish_reason(upstream: str | None, saw_tool_calls: bool) -> str:
    """STOP → stop (tool_calls when calls were emitted), MAX_TOKENS → length, safety → filter."""
    if saw_tool_calls:
        return "tool_calls"
    if upstream == "MAX_TOKENS":
        return "length"
    if upstream in CONTENT_FILTER_REASONS:
        return "content_filter"
    return "stop"


def usage(meta: dict[str, Any] | None) -> dict[str, Any]:
    """OpenAI usage from ``usageMetadata``.

    ``completion_tokens`` includes the thinking tokens, as OpenAI's does for reasoning models, and
    ``completion_tokens_details.reasoning_tokens`` says how many of them were thoughts. When the
    upstream's counts show that ``candidatesTokenCount`` already includes the thoughts
    (prompt + candidates == total), they are not added twice. ``total = prompt + completion``.
    """
    meta = meta or {}
    prompt = _int(meta.get("promptTokenCount"))
    candidates = _int(meta.get("candidatesTokenCount"))
    thoughts = _int(meta.get("thoughtsTokenCount"))
    total = meta.get("totalTokenCount")
    if thoughts and isinstance(total, int) and prompt + candidates == total:
        completion = candidates
    else:
        completion = candidates + thoughts
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": _int(meta.get("cachedContentTokenCount"))},
        "completion_tokens_details": {"reasoning_tokens": thoughts},
    }


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def new_completion_id() -> str:
    return f"chatcmpl-{uuid.uuid4().hex}"


def new_tool_call_id() -> str:
    return f"call_{uuid.uuid4().hex[:24]}"


def candidate_parts(response: dict[str, Any]) -> tuple[list[dict[str, Any]], str | None]:
    """The parts and finishReason of the first candidate (tolerating missing pieces)."""
    candidates = response.get("candidates")
    if not isinstance(candidates, list) or not candidates or not isinstance(candidates[0], dict):
        return [], None
    cand = candidates[0]
    content = cand.get("content")
    parts = content.get("parts") if isinstance(content, dict) else None
    reason = cand.get("finishReason")
    return (parts if isinstance(parts, list) else []), (reason if isinstance(reason, str) else None)


def prompt_blocked(response: dict[str, Any]) -> bool:
    feedback = response.get("promptFeedback")
    return isinstance(feedback, dict) and bool(feedback.get("blockReason"))


# Deeper client JSON is refused: the upstream encoder stops near 254 levels, the gateway wraps
# what it forwards in about ten more, and no real request comes close.
MAX_NESTING = 100


def check_nesting(value: Any, param: str = "", limit: int = MAX_NESTING) -> None:
    """A 400 naming where ``value`` nests deeper than ``limit`` levels (checked iteratively)."""
    stack: list[tuple[Any, int, tuple[Any, ...] | None]] = [(value, 0, None)]
    while stack:
        node, depth, link = stack.pop()
        if depth > limit:
            where = _path(param, link)
            raise InvalidRequest(
                f"'{where}' is nested more than {limit} levels deep", param=where or None
            )
        if isinstance(node, dict):
            items: Any = node.items()
        elif isinstance(node, list):
            items = enumerate(node)
        else:
            continue
        for key, sub in items:
            if isinstance(sub, dict | list):
                stack.append((sub, depth + 1, (link, key)))


def _path(param: str, link: tuple[Any, ...] | None, keep: int = 4) -> str:
    """``param`` followed by the first ``keep`` steps of the path ``link`` leads to."""
    steps: list[Any] = []
    while link is not None:
        link, key = link
        steps.append(key)
    out = param
    for key in reversed(steps[-keep:] if len(steps) > keep else steps):
        out += f"[{key}]" if isinstance(key, int) else (f".{key}" if out else str(key))
    return out
