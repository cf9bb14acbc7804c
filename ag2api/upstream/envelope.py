"""The v1internal envelope around a plain Gemini ``generateContent`` request and response."""

from __future__ import annotations

from typing import Any

from ag2api.ids import uuid4_text


def wrap(
    project: str, model: str, request: dict[str, Any], *, image: bool = False
) -> dict[str, Any]:
    """``{project, requestId, model, userAgent, requestType, request}`` as the IDE sends it."""
    return {
        "project": project,
        "requestId": f"agent-{uuid4_text()}",
        "model": model,
        "userAgent": "antigravity",
        "requestType": "image_gen" if image else "agent",
        "request": request,
    }


def unwrap(event: dict[str, Any]) -> dict[str, Any]:
    """The Gemini response inside an event or body (tolerates a bare, unwrapped one)."""
    inner = event.get("response")
    return inner if isinstance(inner, dict) else event
