"""``reasoning_effort`` → the thinking config of each model family (overrides the policy).

The per-family mapping itself is a family rule: :func:`ag2api.models.families.thinking_for_effort`.
"""

from __future__ import annotations

from typing import Any

from ag2api.errors import InvalidRequest

__all__ = ["EFFORTS", "requested_effort"]

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
