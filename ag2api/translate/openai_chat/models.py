"""The model list in OpenAI's shape: ``GET /v1/models`` and ``/v1/models/{id}``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import unquote

from ag2api.models.entries import ModelEntry
from ag2api.translate.dialect import ModelList


def render_model(entry: ModelEntry, created: int) -> dict[str, Any]:
    return {"id": entry.id, "object": "model", "created": created, "owned_by": entry.owned_by}


def render_list(entries: Sequence[ModelEntry], created: int) -> dict[str, Any]:
    return {"object": "list", "data": [render_model(e, created) for e in entries]}


# openai-python sends a "/" inside an id as %2F, which the path keeps encoded.
MODELS = ModelList(("/v1/models",), render_list, render_model, model_id=unquote)
