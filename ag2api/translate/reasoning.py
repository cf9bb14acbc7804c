"""``reasoning_effort`` → the thinking config of each model family (overrides the policy)."""

from __future__ import annotations

from typing import Any

from ag2api.errors import InvalidRequest

EFFORTS = ("none", "minimal", "low", "medium", "high", "xhigh", "max")
_BUDGETS = {
    "minimal": 128,
    "low": 1024,
    "medium": 8192,
    "high": 24576,
    "xhigh": 32768,
    "max": 32768,
}
_CLAUDE_BUDGETS = {
    "minimal": 1024,
    "low": 2048,
    "medium": 8192,
    "high": 24576,
    "xhigh": 32000,
    "max": 48000,
}


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


def thinking_for_effort(model: str, effort: str) -> dict[str, Any] | None:
    """The ``thinkingConfig`` for ``effort`` on ``model`` (None: send no thinking config)."""
    if model.startswith("gemini-3"):
        flash = "flash" in model
        level = {
            "none": "minimal" if flash else "low",
            "minimal": "minimal" if flash else "low",
            "low": "low",
            "medium": "medium" if flash else "high",
        }.get(effort, "high")
        return {"includeThoughts": effort != "none", "thinkingLevel": level}
    if model.startswith("gemini"):
        if effort == "none":
            # 2.5 Pro cannot switch thinking off; the smallest budget is the nearest.
            return {"includeThoughts": False, "thinkingBudget": 128 if "pro" in model else 0}
        return {"includeThoughts": True, "thinkingBudget": _BUDGETS[effort]}
    if model.startswith("claude"):
        if effort == "none":
            return (
                None
                if model.endswith("-thinking")
                else {"includeThoughts": False, "thinkingBudget": 0}
            )
        return {"includeThoughts": True, "thinkingBudget": _CLAUDE_BUDGETS[effort]}
    return None
