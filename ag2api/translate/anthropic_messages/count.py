"""``/v1/messages/count_tokens``: the upstream ``countTokens`` body for a Messages body, built from
the same translation as generation (what counts is chosen by
:func:`ag2api.translate.gemini.count.count_request`), and ``{"input_tokens": N}`` back."""

from __future__ import annotations

from typing import Any

from ag2api.translate.anthropic_messages.request import to_gemini
from ag2api.translate.dialect import TokenCount
from ag2api.translate.gemini.count import count_request


def count_body(
    body: Any, *, model: str, thinking_default: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The countTokens body for a client ``/v1/messages/count_tokens`` body."""
    request, _ = to_gemini(body, model=model, thinking_default=thinking_default)
    return count_request(request)


COUNT = TokenCount(
    path=r"/v1/messages/count_tokens",
    model=lambda body, path_args: body.get("model"),
    request=lambda body, model: count_body(body, model=model),
    answer=lambda total: {"input_tokens": total},
)
