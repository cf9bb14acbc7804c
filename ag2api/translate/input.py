"""Reading a client body: range-checked fields, nesting limits, reasoning efforts and tool names
the upstream accepts. A bad value is a 400 naming the field; everything here is pure."""

from __future__ import annotations

import re
from typing import Any

from ag2api.errors import InvalidRequest
from ag2api.models.families import max_output_cap

# -- numeric fields -----------------------------------------------------------------------------


def number(body: dict[str, Any], key: str, lo: float, hi: float) -> float | None:
    """``body[key]`` as a number in ``[lo, hi]`` (None when absent)."""
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not lo <= value <= hi:
        raise InvalidRequest(f"'{key}' must be a number from {lo} to {hi}", param=key)
    return value


def integer(body: dict[str, Any], key: str, lo: int, hi: int) -> int | None:
    """``body[key]`` as an integer in ``[lo, hi]`` (None when absent)."""
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise InvalidRequest(f"'{key}' must be an integer from {lo} to {hi}", param=key)
    return value


def output_limit(value: Any, param: str, model: str) -> int | None:
    """A client's output-token limit (``max_tokens`` and its kin) as ``maxOutputTokens``: a positive
    integer, capped at the model's limit (the backend refuses more; clients ask for more than a
    model gives — Claude Code asks 128000 of every model). None when absent. The same rule for
    every API."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidRequest(f"'{param}' must be a positive integer", param=param)
    return min(value, max_output_cap(model))


def put(gen: dict[str, Any], target: str, value: Any) -> None:
    """``gen[target] = value`` unless the field was absent (``value`` None)."""
    if value is not None:
        gen[target] = value


# -- nesting ------------------------------------------------------------------------------------

# Deeper client JSON is refused: the upstream encoder stops near 254 levels, the gateway wraps
# what it forwards in about ten more, and no real request comes close.
MAX_NESTING = 100
MAX_DEPTH = 64  # tool inputs, results and schemas nested deeper than this are refused


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


def too_deep(value: Any, limit: int = MAX_DEPTH) -> bool:
    """Whether ``value`` nests deeper than ``limit``; iterative, so a hostile body cannot
    exhaust the stack."""
    stack = [(value, 0)]
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return True
        if isinstance(node, dict):
            stack.extend((v, depth + 1) for v in node.values())
        elif isinstance(node, list):
            stack.extend((v, depth + 1) for v in node)
    return False


# -- reasoning effort ---------------------------------------------------------------------------
# The per-family thinking config of an effort is a family rule:
# :func:`ag2api.models.families.thinking_for_effort`.

EFFORTS = ("none", "minimal", "low", "medium", "high", "xhigh", "max")


def requested_effort(body: dict[str, Any]) -> str | None:
    """``reasoning_effort`` (Chat Completions) or ``reasoning: {effort}`` (Agents SDK style)."""
    effort = body.get("reasoning_effort")
    param = "reasoning_effort"
    if effort is None and isinstance(body.get("reasoning"), dict):
        effort, param = body["reasoning"].get("effort"), "reasoning"
    if effort is None:
        return None
    if effort not in EFFORTS:
        raise InvalidRequest(f"'{param}' must be one of {', '.join(EFFORTS)}", param=param)
    return str(effort)


# -- tool names ---------------------------------------------------------------------------------

_NAME_BAD = re.compile(r"[^A-Za-z0-9_-]")
MAX_NAME = 64


def safe_name(name: str) -> str:
    """A name both Gemini and Claude accept: ``[A-Za-z0-9_-]``, starts with a letter or ``_``."""
    out = _NAME_BAD.sub("_", name) or "_"
    if not (out[0].isalpha() or out[0] == "_"):
        out = "_" + out
    return out[:MAX_NAME]


def unique_name(name: str, taken: set[str]) -> str:
    """``name``, or ``name_2``, ``name_3`` … (cut to fit) when taken; the result is added to
    ``taken`` — two client names that sanitise alike must not collide upstream."""
    candidate, n = name, 2
    while candidate in taken:
        suffix = f"_{n}"
        candidate, n = name[: MAX_NAME - len(suffix)] + suffix, n + 1
    taken.add(candidate)
    return candidate
