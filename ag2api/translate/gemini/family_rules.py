"""What each model family needs in a Gemini request, for every dialect (pure, over request dicts).

Each dialect builds a plain Gemini request and then calls :func:`apply_family_rules`:

* Claude: ``functionCallingConfig.mode`` ``VALIDATED`` instead of ``AUTO``; an object schema
  without properties gets a placeholder property (VALIDATED rejects empty ones), recorded as an
  :class:`~ag2api.translate.typed_args.ArgFix` so answers drop it again; ``maxOutputTokens`` must
  stay above ``thinkingBudget``.
* Gemini: a replayed ``functionCall`` needs a ``thoughtSignature``; when the real one is unknown
  the backend accepts a sentinel.
* Image models: no system prompt, tools or thinking; TEXT+IMAGE modalities.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ag2api.models.families import (
    CLAUDE_MAX_OUTPUT,
    MIN_CLAUDE_THINKING_BUDGET,
    SENTINEL,
    is_claude,
    is_image_model,
)
from ag2api.translate.typed_args import ArgFix, fill_empty_objects, merge

PLACEHOLDER_NAME = "reason"
PLACEHOLDER = {
    PLACEHOLDER_NAME: {
        "type": "string",
        "description": "Brief explanation of why you are calling this tool",
    }
}


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


def claude_generation_limits(gen: dict[str, Any], model: str) -> None:
    """Claude's rules for a ``generationConfig`` whose thinking is settled (nothing for other
    families): thinking on takes only its sampling, and the output must exceed the budget."""
    if not is_claude(model):
        return
    if (gen.get("thinkingConfig") or {}).get("includeThoughts"):
        claude_thinking_sampling(gen)
    claude_output_limit(gen)


def claude_thinking_sampling(gen: dict[str, Any]) -> None:
    """Claude with thinking takes no top_k, temperature 1 only and top_p >= 0.95 (Anthropic's
    rule; antigravity2api drops topP for the same reason): drop them rather than 400 (Gemini
    CLI, for one, always sends topK 64)."""
    gen.pop("topK", None)
    if gen.get("temperature", 1) != 1:
        del gen["temperature"]
    if gen.get("topP", 1) < 0.95:
        del gen["topP"]


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
