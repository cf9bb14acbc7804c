"""The v1internal envelope around a plain Gemini ``generateContent`` request and response."""

from __future__ import annotations

from typing import Any

from ag2api.ids import uuid4_text

# Paying with Google One AI credits once the free quota is out (docs/protocol.md §11): a field
# of the envelope, beside ``project`` and ``model``, not of the request inside.
CREDIT_TYPES = ["GOOGLE_ONE_AI"]


def wrap(
    project: str,
    model: str,
    request: dict[str, Any],
    *,
    image: bool = False,
    credits: bool = False,
) -> dict[str, Any]:
    """``{project, requestId, model, userAgent, requestType, request}`` as the IDE sends it;
    with ``credits``, ``enabledCreditTypes`` too."""
    envelope: dict[str, Any] = {
        "project": project,
        "requestId": f"agent-{uuid4_text()}",
        "model": model,
        "userAgent": "antigravity",
        "requestType": "image_gen" if image else "agent",
        "request": request,
    }
    if credits:
        envelope["enabledCreditTypes"] = CREDIT_TYPES
    return envelope
