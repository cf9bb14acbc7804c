"""The model list in Anthropic's shape (Claude Code's model discovery), on ``/v1/models`` for
requests that carry ``anthropic-version`` (every Anthropic client sends it)."""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from typing import Any
from urllib.parse import unquote

from ag2api.models.entries import ModelEntry, display_name
from ag2api.translate.dialect import Headers, ModelList, Query


def render_model(entry: ModelEntry, created: int) -> dict[str, Any]:
    stamp = datetime.datetime.fromtimestamp(created, datetime.UTC)
    return {
        "type": "model",
        "id": entry.id,
        "display_name": display_name(entry.id),
        "created_at": stamp.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def render_list(entries: Sequence[ModelEntry], created: int) -> dict[str, Any]:
    data = [render_model(e, created) for e in entries]
    return {
        "data": data,
        "has_more": False,
        "first_id": data[0]["id"] if data else None,
        "last_id": data[-1]["id"] if data else None,
    }


def claims(headers: Headers, query: Query) -> bool:
    return "anthropic-version" in headers


MODELS = ModelList(("/v1/models",), render_list, render_model, model_id=unquote, claims=claims)
