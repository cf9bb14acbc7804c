"""The client routes come from the dialect table, and none depends on the order of the routes:
the gateway is served here with its routes in reverse order and still tells its clients apart."""

from __future__ import annotations

import json
from dataclasses import replace

import httpx
import pytest
from tornado.web import Application

from ag2api.handlers import routes
from ag2api.handlers.completion import CompletionHandler
from ag2api.handlers.fixed_answers import NotFoundHandler
from ag2api.services import Services
from ag2api.translate import DIALECTS
from tests.support.clients import API_KEY

BEARER = {"Authorization": f"Bearer {API_KEY}"}


@pytest.fixture
def app(services: Services) -> Application:
    return Application(
        list(reversed(routes())), services=services, default_handler_class=NotFoundHandler
    )


def test_every_entry_has_its_routes() -> None:
    paths = {rule[0] for rule in routes()}
    for dialect in DIALECTS:
        assert dialect.path in paths
        assert {side.path for side in dialect.routes} <= paths
        assert dialect.count is None or dialect.count.path in paths
        assert dialect.models is None or set(dialect.models.paths) <= paths


def test_a_new_dialect_is_an_entry_and_routes_never_share_a_path() -> None:
    chat = DIALECTS[0]
    other = replace(chat, name="other", path=r"/v2/chat", models=None, routes=())
    assert (r"/v2/chat", CompletionHandler, {"dialect": other}) in routes((*DIALECTS, other))
    with pytest.raises(ValueError, match="two routes on one path"):
        routes((*DIALECTS, replace(other, path=chat.path)))


async def test_shared_paths_and_namespaces_whatever_the_route_order(base_url: str) -> None:
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
        openai_list = (await http.get("/v1/models", headers=BEARER)).json()
        assert openai_list["object"] == "list"
        claude = {"x-api-key": API_KEY, "anthropic-version": "2023-06-01"}
        assert (await http.get("/v1/models", headers=claude)).json()["has_more"] is False
        gemini = (await http.get("/v1/models", headers={"x-goog-api-key": API_KEY})).json()
        assert gemini["models"][0]["name"].startswith("models/")
        one = await http.get(f"/v1/models/gemini-2.5-flash?key={API_KEY}")
        assert one.json()["name"] == "models/gemini-2.5-flash"
        # Errors come in the shape of the dialect the request was told to be.
        denied = await http.get("/v1/models", headers={**claude, "x-api-key": "sk-wrong"})
        assert denied.status_code == 401 and denied.json()["type"] == "error"
        lost = await http.get("/v1beta/nothing/here", headers={"x-goog-api-key": API_KEY})
        assert lost.status_code == 404 and lost.json()["error"]["status"] == "NOT_FOUND"
        # /v1/responses/compact is generation, not the stored response "compact".
        compact = await http.post(
            "/v1/responses/compact",
            headers=BEARER,
            content=json.dumps({"model": "gemini-2.5-flash", "input": "hi"}),
        )
        assert compact.status_code == 200 and compact.json()["object"] == "response.compaction"
        stored = await http.get("/v1/responses/resp_none", headers=BEARER)
        assert stored.status_code == 404 and "resp_none" in stored.json()["error"]["message"]
