"""What each model family needs in a Gemini request, for every dialect (pure, over request dicts).

Each dialect builds a plain Gemini request and then calls :func:`apply_family_rules`:

* Claude (protocol §7.4): ``functionCallingConfig.mode`` ``VALIDATED`` instead of ``AUTO``; an
  object schema without properties gets a placeholder property (VALIDATED rejects empty ones),
  recorded as an :class:`~ag2api.translate.typed_args.ArgFix` so answers drop it again;
  ``maxOutputTokens`` must stay above ``thinkingBudget``.
* Gemini (protocol §7.3): a replayed ``functionCall`` needs a ``thoughtSignature``; when the real
  one is unknown the backend accepts a sentinel.
* Image models (protocol §7.5): no system prompt, tools or thinking; TEXT+IMAGE modalities.

and, for building the request: the ``thinkingConfig`` for an effort or a budget (budgets for
Gemini 2.5 and Claude, levels for Gemini 3), the output caps and the knobs a family refuses.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ag2api.translate.typed_args import ArgFix, fill_empty_objects, merge

CLAUDE_MAX_OUTPUT = 64000
GEMINI_MAX_OUTPUT = 65536
MIN_CLAUDE_THINKING_BUDGET = 1024
# The backend accepts this for Gemini when the real signature is unknown (protocol §7.3).
SENTINEL = "skip_thought_signature_validator"
PLACEHOLDER_NAME = "reason"
PLACEHOLDER = {
    PLACEHOLDER_NAME: {
        "type": "string",
        "description": "Brief explanation of why you are calling this tool",
    }
}


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


def apply_family_rules(
    request: dict[str, Any], model: str, fixes: Mapping[str, ArgFix] | None = None
) -> dict[str, ArgFix]:
    """Apply the family's rules to ``request`` in place.

    ``fixes``: what the schema cleaning already changed, per declared tool name. Returns them
    with the family's own changes merged in (where placeholder properties were added), so
    answers can undo both (``typed_args.restore_args``).
    """
    merged = dict(fixes or {})
    if is_image_model(model):
        image_shape(request)
        return merged
    if not is_claude(model):
        sign_replayed_calls(request.get("contents") or ())
        return merged
    for name, fix in fill_placeholders(declarations(request)).items():
        merged[name] = merge(merged.get(name), fix) or fix
    validated_mode(request)
    gen = request.get("generationConfig")
    if isinstance(gen, dict):
        claude_output_limit(gen)
    return merged


def declarations(request: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        decl
        for tool in request.get("tools") or ()
        if isinstance(tool, dict)
        for decl in tool.get("functionDeclarations") or ()
        if isinstance(decl, dict)
    ]


def fill_placeholders(decls: Iterable[dict[str, Any]]) -> dict[str, ArgFix]:
    """Give every property-less object schema the placeholder; where, per declaration name."""
    fixes: dict[str, ArgFix] = {}
    for decl in decls:
        params = decl.setdefault("parameters", {"type": "object", "properties": {}})
        if (fix := fill_empty_objects(params, PLACEHOLDER)) is not None:
            fixes[str(decl.get("name"))] = fix
    return fixes


def top_level_placeholders(fixes: Mapping[str, ArgFix]) -> frozenset[str]:
    """The tool names whose arguments themselves got the placeholder."""
    return frozenset(name for name, fix in fixes.items() if PLACEHOLDER_NAME in fix.added)


def validated_mode(request: dict[str, Any]) -> None:
    """Claude with tools: ``AUTO`` (or no mode) becomes ``VALIDATED``."""
    if not declarations(request):
        return
    config = request.setdefault("toolConfig", {}).setdefault("functionCallingConfig", {})
    if config.get("mode") in (None, "AUTO"):
        config["mode"] = "VALIDATED"


def claude_output_limit(gen: dict[str, Any]) -> None:
    """Keep ``maxOutputTokens`` above ``thinkingBudget`` (Claude rejects it otherwise).

    No limit → the Claude maximum; a limit at or below the budget shrinks the budget to fit, and
    when too little is left to think with, thinking is dropped for this request.
    """
    thinking = gen.get("thinkingConfig")
    if not isinstance(thinking, dict):
        return
    budget = thinking.get("thinkingBudget")
    if not isinstance(budget, int) or budget <= 0:
        return
    limit = gen.get("maxOutputTokens")
    if limit is None:
        gen["maxOutputTokens"] = CLAUDE_MAX_OUTPUT
    elif limit <= budget:
        if limit - 1 < MIN_CLAUDE_THINKING_BUDGET:
            del gen["thinkingConfig"]
        else:
            gen["thinkingConfig"] = {**thinking, "thinkingBudget": limit - 1}


def max_output_cap(model: str) -> int:
    """The largest ``maxOutputTokens`` the family accepts (AM clamps to these to avoid 400s)."""
    return CLAUDE_MAX_OUTPUT if is_claude(model) else GEMINI_MAX_OUTPUT


def sign_replayed_calls(contents: Iterable[dict[str, Any]]) -> None:
    """Gemini targets: every history ``functionCall`` part without a signature gets the sentinel."""
    for turn in contents:
        if not isinstance(turn, dict) or turn.get("role") != "model":
            continue
        for part in turn.get("parts") or ():
            if (
                isinstance(part, dict)
                and "functionCall" in part
                and not part.get("thoughtSignature")
            ):
                part["thoughtSignature"] = SENTINEL


def image_shape(request: dict[str, Any]) -> None:
    """Image models take no system prompt, tools or thinking, and answer TEXT and IMAGE."""
    for key in ("systemInstruction", "tools", "toolConfig"):
        request.pop(key, None)
    gen = request.setdefault("generationConfig", {})
    gen.pop("thinkingConfig", None)
    gen["candidateCount"] = 1
    gen["responseModalities"] = ["TEXT", "IMAGE"]
    gen.setdefault("imageConfig", {"aspectRatio": "1:1", "imageSize": "1K"})
