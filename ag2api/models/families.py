"""What a model family is and what it takes: Claude, Gemini 2.5 and 3, image models; their
thinking configs for an effort or a budget, output caps and the knobs a family refuses (pure).

What each family needs in a translated request is applied by
:mod:`ag2api.translate.gemini.family_rules`.
"""

from __future__ import annotations

from typing import Any

CLAUDE_MAX_OUTPUT = 64000
GEMINI_MAX_OUTPUT = 65536
MIN_CLAUDE_THINKING_BUDGET = 1024
# The backend accepts this for Gemini when the real signature is unknown (docs/protocol.md §7.3).
SENTINEL = "skip_thought_signature_validator"


def is_claude(model: str) -> bool:
    return model.startswith("claude")


def is_gemini3(model: str) -> bool:
    return model.startswith("gemini-3")


def is_image_model(model: str) -> bool:
    return model.endswith("-image") or "-image-" in model


def is_gemini(model: str) -> bool:
    return model.startswith("gemini")


def takes_penalties(model: str) -> bool:
    """Claude and Gemini 3 refuse ``presencePenalty`` / ``frequencyPenalty``."""
    return not (is_claude(model) or is_gemini3(model))


def takes_seed(model: str) -> bool:
    return not is_claude(model)


_EFFORT_BUDGETS = {
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


def thinking_for_effort(model: str, effort: str) -> dict[str, Any] | None:
    """The ``thinkingConfig`` for ``effort`` on ``model`` (None: send no thinking config)."""
    if is_gemini3(model):
        flash = "flash" in model
        level = {
            "none": "minimal" if flash else "low",
            "minimal": "minimal" if flash else "low",
            "low": "low",
            "medium": "medium" if flash else "high",
        }.get(effort, "high")
        return {"includeThoughts": effort != "none", "thinkingLevel": level}
    if is_gemini(model):
        if effort == "none":
            # 2.5 Pro cannot switch thinking off; the smallest budget is the nearest.
            return {"includeThoughts": False, "thinkingBudget": 128 if "pro" in model else 0}
        return {"includeThoughts": True, "thinkingBudget": _EFFORT_BUDGETS[effort]}
    if is_claude(model):
        if effort == "none":
            return (
                None
                if model.endswith("-thinking")
                else {"includeThoughts": False, "thinkingBudget": 0}
            )
        return {"includeThoughts": True, "thinkingBudget": _CLAUDE_BUDGETS[effort]}
    return None


def thinking_for_budget(model: str, budget: int) -> dict[str, Any] | None:
    """The ``thinkingConfig`` for a token budget (None: the model does not think)."""
    if is_gemini3(model):
        return {"includeThoughts": True, "thinkingLevel": _level_for_budget(model, budget)}
    if is_gemini(model) or is_claude(model):
        return {"includeThoughts": True, "thinkingBudget": budget}
    return None


def _level_for_budget(model: str, budget: int) -> str:
    """Gemini 3 thinks in levels; a budget picks the nearest one."""
    if budget <= 1024:
        return "low"
    if "flash" in model and budget <= 8192:
        return "medium"
    return "high"


def max_output_cap(model: str) -> int:
    """The largest ``maxOutputTokens`` the family accepts (AM clamps to these to avoid 400s)."""
    return CLAUDE_MAX_OUTPUT if is_claude(model) else GEMINI_MAX_OUTPUT
