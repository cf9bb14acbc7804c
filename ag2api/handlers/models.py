"""GET /v1/models and GET /v1/models/{id}."""

from __future__ import annotations

from urllib.parse import unquote

from tornado.httputil import HTTPHeaders

from ag2api.errors import ModelNotFound
from ag2api.handlers.base import ApiHandler


def wants_anthropic(headers: HTTPHeaders) -> bool:
    """Anthropic clients (Claude Code's model discovery) always send ``anthropic-version``."""
    return "anthropic-version" in headers


class ModelsHandler(ApiHandler):
    async def get(self) -> None:
        catalog = self.services.catalog
        entries = await self.listed_models()
        if wants_anthropic(self.request.headers):
            data = [e.to_anthropic(catalog.created) for e in entries]
            self.write_json(
                {
                    "data": data,
                    "has_more": False,
                    "first_id": data[0]["id"] if data else None,
                    "last_id": data[-1]["id"] if data else None,
                }
            )
            return
        self.write_json({"object": "list", "data": [e.to_openai(catalog.created) for e in entries]})


class ModelHandler(ApiHandler):
    async def get(self, model_id: str) -> None:
        # openai-python v3 sends "/" inside an id as %2F; Tornado leaves it encoded.
        model_id = unquote(model_id)
        catalog = self.services.catalog
        for entry in await self.listed_models():
            if entry.id == model_id:
                if wants_anthropic(self.request.headers):
                    self.write_json(entry.to_anthropic(catalog.created))
                else:
                    self.write_json(entry.to_openai(catalog.created))
                return
        raise ModelNotFound(model_id)


ROUTES = [
    (r"/v1/models", ModelsHandler),
    (r"/v1/models/(.+)", ModelHandler),
]
