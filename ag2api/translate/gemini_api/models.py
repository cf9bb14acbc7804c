"""The model list in the Gemini API's shape (``models.list`` / ``models.get``): under ``/v1beta``,
and on ``/v1/models`` for requests that carry the Gemini API's key (``x-goog-api-key`` or
``?key=``, as Gemini CLI and google-genai send it)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ag2api.models import families
from ag2api.models.entries import ModelEntry, display_name
from ag2api.translate.dialect import Headers, ModelList, Query
from ag2api.translate.gemini_api.request import model_from_path

METHODS = ("generateContent", "streamGenerateContent", "countTokens")
# Context and output limits by family (docs/protocol.md §4.2, the limits peers use).
CLAUDE_CONTEXT = 200_000
GPT_OSS_CONTEXT, GPT_OSS_OUTPUT = 114_000, 32_768
GEMINI_CONTEXT = 1_048_576


def token_limits(model: str) -> tuple[int, int]:
    if model.startswith("gpt-oss"):
        return GPT_OSS_CONTEXT, GPT_OSS_OUTPUT
    context = CLAUDE_CONTEXT if families.is_claude(model) else GEMINI_CONTEXT
    return context, families.max_output_cap(model)


def render_model(entry: ModelEntry, created: int) -> dict[str, Any]:
    context, output = token_limits(entry.id)
    name = display_name(entry.id)
    return {
        "name": f"models/{entry.id}",
        "baseModelId": entry.id,
        "version": "001",
        "displayName": name,
        "description": f"{name} through ag2api (Antigravity)",
        "inputTokenLimit": context,
        "outputTokenLimit": output,
        "supportedGenerationMethods": list(METHODS),
    }


def render_list(entries: Sequence[ModelEntry], created: int) -> dict[str, Any]:
    # One page holds them all: no nextPageToken, so the SDK pagers stop here.
    return {"models": [render_model(e, created) for e in entries]}


def claims(headers: Headers, query: Query) -> bool:
    return "x-goog-api-key" in headers or "key" in query


MODELS = ModelList(
    ("/v1beta/models", "/v1/models"),
    render_list,
    render_model,
    model_id=model_from_path,
    claims=claims,
)
