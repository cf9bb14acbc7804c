"""HTTP handlers; ``routes()`` lists every route in one explicit order."""

from __future__ import annotations

from typing import Any


def routes() -> list[Any]:
    from ag2api.handlers import (
        anthropic,
        completion,
        gemini,
        health,
        images,
        models,
        responses,
    )

    return [
        *completion.ROUTES,
        *responses.ROUTES,
        *anthropic.ROUTES,
        *images.ROUTES,
        *gemini.ROUTES,  # before models: its /v1/models rules match only Gemini requests
        *models.ROUTES,
        *health.ROUTES,
    ]
