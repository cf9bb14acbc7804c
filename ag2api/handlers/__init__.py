"""HTTP handlers; ``routes()`` lists every route in one explicit order."""

from __future__ import annotations

from typing import Any


def routes() -> list[Any]:
    from ag2api.handlers import admin, chat, health, images, models

    return [*chat.ROUTES, *images.ROUTES, *models.ROUTES, *health.ROUTES, *admin.ROUTES]
