"""Every dialect's model list (its entry's ``models``): the list and one model, filtered by the
key's policy. Where dialects share a path (``/v1/models``) the request's own marks decide whose
list answers (``ModelList.claims``), so the answer never depends on the order of the routes."""

from __future__ import annotations

from ag2api.errors import ModelNotFound
from ag2api.handlers.base import DialectHandler
from ag2api.translate.dialect import Dialect, Headers, ModelList, Query


def lister(dialects: tuple[Dialect, ...], headers: Headers, query: Query) -> Dialect:
    """Whose list a request on a path these ``dialects`` share gets."""
    for dialect in dialects:
        claims = dialect.models.claims if dialect.models is not None else None
        if claims is not None and claims(headers, query):
            return dialect
    return next(d for d in dialects if d.models is not None and d.models.claims is None)


class ModelListHandler(DialectHandler):
    def initialize(  # type: ignore[override]
        self, listing: tuple[Dialect, ...]
    ) -> None:
        super().initialize(
            listing[0]
            if len(listing) == 1
            else lister(listing, self.request.headers, self.request.query_arguments)
        )

    @property
    def models(self) -> ModelList:
        assert self.dialect is not None and self.dialect.models is not None
        return self.dialect.models

    async def get(self) -> None:
        if self.trace is not None:
            self.trace.route = "models"
        entries = await self.listed_models()
        self.write_json(self.models.render_list(entries, self.services.catalog.created))


class ModelHandler(ModelListHandler):
    async def get(self, raw_id: str) -> None:  # type: ignore[override]
        if self.trace is not None:
            self.trace.route = "model"
        model_id = self.models.model_id(raw_id)
        for entry in await self.listed_models():
            if entry.id == model_id:
                self.write_json(self.models.render_model(entry, self.services.catalog.created))
                return
        raise ModelNotFound(model_id)
