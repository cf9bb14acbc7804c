"""Gemini ``countTokens``: its body, reading its answer, and a local estimate when it fails.

Every dialect counts the same way once translated: the body must be exactly
``{"request": {...}}`` (an extra ``model``/``project`` or ``safetySettings`` is a 400, AM PR
#3295), keeping only what counts: contents, system instruction and tools.
"""

from __future__ import annotations

import json
from typing import Any

COUNTED = ("contents", "systemInstruction", "tools")
IMAGE_TOKENS = 1600  # Anthropic's estimate for a ~1.15 megapixel image
CHARS_PER_TOKEN = 4


def count_request(request: dict[str, Any]) -> dict[str, Any]:
    """The countTokens body for an already translated Gemini request."""
    return {"request": {key: request[key] for key in COUNTED if key in request}}


def count_from_response(response: Any) -> int | None:
    """``totalTokens`` of a countTokens answer, or None when it has none."""
    total = response.get("totalTokens") if isinstance(response, dict) else None
    return total if isinstance(total, int) and not isinstance(total, bool) and total >= 0 else None


def estimate(request: dict[str, Any]) -> int:
    """A local estimate (about 4 characters a token, a fixed cost per image or document).

    Takes a Gemini request or a countTokens body (``{"request": {...}}``).
    """
    if isinstance(request.get("request"), dict):
        request = request["request"]
    chars = 0
    media = 0
    system = request.get("systemInstruction") or {}
    turns = [system, *(request.get("contents") or ())]
    for turn in turns:
        for part in turn.get("parts") or ():
            if "inlineData" in part:
                media += 1
            elif isinstance(part.get("text"), str):
                chars += len(part["text"])
            else:
                chars += len(json.dumps(part, ensure_ascii=False))
    if request.get("tools"):
        chars += len(json.dumps(request["tools"], ensure_ascii=False))
    return max(1, chars // CHARS_PER_TOKEN + media * IMAGE_TOKENS)
