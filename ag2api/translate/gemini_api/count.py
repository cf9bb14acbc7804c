"""``:countTokens``: the upstream ``countTokens`` body for a Gemini API body — ``{"contents": …}``
or ``{"generateContentRequest": {…}}`` — translated exactly as it would be generated, and
``{"totalTokens": N}`` back."""

from __future__ import annotations

from typing import Any

from ag2api.errors import InvalidRequest
from ag2api.translate.dialect import TokenCount
from ag2api.translate.gemini.count import count_request
from ag2api.translate.gemini_api.request import model_from_path, to_gemini


def count_body(body: dict[str, Any], *, model: str) -> dict[str, Any]:
    source = body.get("generateContentRequest", body)
    if not isinstance(source, dict):
        raise InvalidRequest(
            "'generateContentRequest' must be an object", param="generateContentRequest"
        )
    translated, _ = to_gemini(source, model=model, thinking_default=None)
    return count_request(translated)  # exactly {"request": {...}}


COUNT = TokenCount(
    path=r"/(?:v1beta|v1)/models/([^/:]+):countTokens",
    model=lambda body, path_args: model_from_path(path_args[0]),
    request=lambda body, model: count_body(body, model=model),
    answer=lambda total: {"totalTokens": total},
)
