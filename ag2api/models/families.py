"""What each model family needs in a Gemini request, as pure functions over request dicts.

The OpenAI path grew these inside ``translate/openai_chat/`` (request.py, messages.py, tools.py);
they are the same for every dialect, so they live here with the same behaviour:

* Claude (protocol §7.4): ``functionCallingConfig.mode`` ``VALIDATED`` instead of ``AUTO``; an
  object schema without properties gets a placeholder property (VALIDATED rejects empty ones);
  ``maxOutputTokens`` must stay above ``thinkingBudget``.
* Gemini (protocol §7.3): a replayed ``functionCall`` needs a ``thoughtSignature``; when the real
  one is unknown the backend accepts a sentinel.
* Image models (protocol §7.5): no system prompt, tools or thinking; TEXT+IMAGE modalities.
"""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Set as AbstractSet
from typing import Any

from ag2api.translate.signatures import SENTINEL

CLAUDE_MAX_OUTPUT = 64000
GEMINI_MAX_OUTPUT = 65536
MIN_CLAUDE_THINKING_BUDGET = 1024
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


def apply_family_rules(request: dict[str, Any], model: str) -> set[str]:
    """Apply the family's rules to ``request`` in place.

    Returns the names of the tools whose top-level schema got the placeholder property, so the
    answer can strip it from the call arguments (:func:`strip_placeholder`).
    """
    if is_image_model(model):
        image_shape(request)
        return set()
    placeholders: set[str] = set()
    if is_claude(model):
        placeholders = fill_placeholders(declarations(request))
        validated_mode(request)
        gen = request.get("generationConfig")
        if isinstance(gen, dict):
            claude_output_limit(gen)
    else:
        sign_replayed_calls(request.get("contents") or ())
    return placeholders


def declarations(request: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        decl
        for tool in request.get("tools") or ()
        if isinstance(tool, dict)
        for decl in tool.get("functionDeclarations") or ()
        if isinstance(decl, dict)
    ]


def fill_placeholders(decls: Iterable[dict[str, Any]]) -> set[str]:
    """Give every property-less object schema the placeholder; the names filled at top level."""
    top: set[str] = set()
    for decl in decls:
        params = decl.setdefault("parameters", {"type": "object", "properties": {}})
        if params.get("type") == "object" and not params.get("properties"):
            top.add(str(decl.get("name")))
        _fill_empty_objects(params)
    return top


def _fill_empty_objects(schema: dict[str, Any]) -> None:
    if schema.get("type") == "object" and not schema.get("properties"):
        schema["properties"] = dict(PLACEHOLDER)
    for sub in (schema.get("properties") or {}).values():
        if isinstance(sub, dict):
            _fill_empty_objects(sub)
    if isinstance(schema.get("items"), dict):
        _fill_empty_objects(schema["items"])


def strip_placeholder(
    name: str, args: dict[str, Any], placeholders: AbstractSet[str]
) -> dict[str, Any]:
    """The call arguments without the placeholder the gateway invented for ``name``."""
    if name in placeholders and PLACEHOLDER_NAME in args:
        return {k: v for k, v in args.items() if k != PLACEHOLDER_NAME}
    return args


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


def replay_signature(signature: str | None) -> str:
    """The ``thoughtSignature`` to send with a replayed Gemini call: its own or the sentinel."""
    return signature or SENTINEL


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
