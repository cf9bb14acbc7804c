"""GET /v1/models and GET /v1/models/{id}."""

from __future__ import annotations

from urllib.parse import unquote

from ag2api.errors import ModelNotFound
from ag2api.handlers.base import ApiHandler


class ModelsHandler(ApiHandler):
    async def get(self) -> None:
        catalog = self.services.catalog
        entries = await catalog.listed(self.cfg)
        self.write_json({"object": "list", "data": [e.to_openai(catalog.created) for e in entries]})


class ModelHandler(ApiHandler):
    async def get(self, model_id: str) -> None:
        # openai-python v3 sends "/" inside an id as %2F; Tornado leaves it encoded.
        model_id = unquote(model_id)
        catalog = self.services.catalog
        for entry in await catalog.listed(self.cfg):
            if entry.id == model_id:
                self.write_json(entry.to_openai(catalog.created))
                return
        raise ModelNotFound(model_id)


ROUTES = [
    (r"/v1/models", ModelsHandler),
    (r"/v1/models/(.+)", ModelHandler),
]
