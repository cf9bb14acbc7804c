"""The client-facing HTTP handlers, one module per kind of route; ``routes()`` builds every client
route from the dialect table (``translate.DIALECTS``): each entry's generation route, token count,
model list and side routes. Route patterns never overlap, so their order does not matter.

``base`` is every handler's base (body, limits, CORS, errors in the route's dialect);
``generating`` that of the routes calling the upstream (admission, cancelled when the client
leaves): ``completion``, ``count_tokens``, ``images``. ``models``, ``responses`` (stored
responses), ``health``, ``sse`` (the event stream writer), and ``fixed_answers`` (unknown paths,
probes, telemetry to drop)."""

from __future__ import annotations

from typing import Any

from tornado.web import RequestHandler

from ag2api.handlers.completion import CompletionHandler
from ag2api.handlers.count_tokens import CountTokensHandler
from ag2api.handlers.fixed_answers import DiscardHandler, ProbeHandler
from ag2api.handlers.health import ROUTES as HEALTH_ROUTES
from ag2api.handlers.images import ImagesHandler
from ag2api.handlers.models import ModelHandler, ModelListHandler
from ag2api.handlers.responses import InputItemsHandler, StoredResponseHandler
from ag2api.translate import DIALECTS
from ag2api.translate.dialect import Dialect, Serves

SIDE_HANDLERS: dict[Serves, type[RequestHandler]] = {
    Serves.GENERATE: CompletionHandler,
    Serves.IMAGES: ImagesHandler,
    Serves.STORED_RESPONSE: StoredResponseHandler,
    Serves.STORED_INPUT_ITEMS: InputItemsHandler,
    Serves.PROBE: ProbeHandler,
    Serves.DISCARD: DiscardHandler,
}
# One model under a list's path: anything without a ":" (that is a method: :countTokens …).
ONE_MODEL = r"/([^:]+)"

Rule = tuple[str, type[RequestHandler], dict[str, Any]]


def routes(dialects: tuple[Dialect, ...] = DIALECTS) -> list[Rule]:
    rules: list[Rule] = []
    listing: dict[str, list[Dialect]] = {}
    for dialect in dialects:
        rules.append((dialect.path, CompletionHandler, {"dialect": dialect}))
        if dialect.count is not None:
            rules.append((dialect.count.path, CountTokensHandler, {"dialect": dialect}))
        for side in dialect.routes:
            rules.append(
                (side.path, SIDE_HANDLERS[side.serves], {"dialect": side.dialect or dialect})
            )
        for path in dialect.models.paths if dialect.models is not None else ():
            listing.setdefault(path, []).append(dialect)
    for path, listed in listing.items():
        if len(listed) > 1 and sum(d.models.claims is None for d in listed if d.models) != 1:
            raise ValueError(f"{path}: dialects sharing a model list need exactly one default")
        rules.append((path, ModelListHandler, {"listing": tuple(listed)}))
        rules.append((path + ONE_MODEL, ModelHandler, {"listing": tuple(listed)}))
    rules.extend((path, handler, {}) for path, handler in HEALTH_ROUTES)
    paths = [rule[0] for rule in rules]
    if len(set(paths)) != len(paths):
        raise ValueError(
            f"two routes on one path: {sorted(p for p in paths if paths.count(p) > 1)}"
        )
    return rules
