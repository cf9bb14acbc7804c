"""HTTP handlers; ``routes()`` lists every route in one explicit order."""

from __future__ import annotations

from typing import Any


def routes() -> list[Any]:
    from ag2api.handlers import admin, anthropic, completion, health, images, models

    return [
        *completion.ROUTES,
        *anthropic.ROUTES,
        *images.ROUTES,
        *models.ROUTES,
        *health.ROUTES,
        *admin.ROUTES,
    ]
