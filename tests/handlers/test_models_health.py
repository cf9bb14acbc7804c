"""/v1/models (live, cached, fallback), /health, CORS, the raw SSE wire format."""

from __future__ import annotations

import json
from typing import Any

import openai
import pytest

from ag2api.services import Services
from ag2api.testing.fake_upstream import FakeUpstream
from tests.support.clients import API_KEY
from tests.support.http import fetch


async def test_models_are_listed_live_without_internal_ids(
    client: openai.AsyncOpenAI, fake: FakeUpstream
) -> None:
    models = [m async for m in client.models.list()]
    assert [m.id for m in models] == [
        "claude-sonnet-4-5",
        "claude-sonnet-4-5-thinking",
        "gemini-2.5-flash",
        "gemini-3-pro-high",
        "gemini-3-pro-image",
    ]
    assert {m.owned_by for m in models} == {"anthropic", "google"}
    assert all(m.object == "model" and isinstance(m.created, int) for m in models)
    one = await client.models.retrieve("gemini-3-pro-high")
    assert one.id == "gemini-3-pro-high"
    # Cached: a second listing does not ask upstream again; the listing took no rotation turn.
    await client.models.list()
    listed = [r for r in fake.requests if r.path.endswith("fetchAvailableModels")]
    assert len(listed) == 1 and listed[0].body == {"project": "proj-alpha-0001"}


async def test_model_ids_with_slashes_survive_encoding(
    client: openai.AsyncOpenAI, fake: FakeUpstream
) -> None:
    fake.models["vendor/model-x"] = {}
    assert (await client.models.retrieve("vendor/model-x")).id == "vendor/model-x"


@pytest.mark.parametrize("accounts_spec", [()])
async def test_configured_list_when_no_account_can_list(
    client: openai.AsyncOpenAI, services: Services, accounts_spec: Any
) -> None:
    ids = [m.id async for m in client.models.list()]
    assert ids == list(services.config.current.models.fallback)
    assert services.catalog.source == "configured"


async def test_health_is_open_and_reports_state(
    base_url: str, services: Services, tokens_path: Any
) -> None:
    response = await fetch(base_url + "/health")
    assert response.code == 200
    body = json.loads(response.body)
    assert body["status"] == "ok"
    assert body["accounts"] == {"enabled": 3, "disabled": 0, "disabled_reasons": [], "cooling": []}
    assert body["config"]["last_error"] is None and body["config"]["loaded_at"]
    assert body["version"]
    text = response.body.decode()
    assert API_KEY not in text and "rt-one" not in text
    services.pool.disable(services.pool.accounts[0], "test")
    assert json.loads((await fetch(base_url + "/health")).body)["status"] == "degraded"


@pytest.mark.parametrize("accounts_spec", [()])
async def test_health_says_no_accounts(base_url: str, accounts_spec: Any) -> None:
    body = json.loads((await fetch(base_url + "/health")).body)
    assert body["status"] == "no_accounts"
    assert (body["accounts"]["enabled"], body["accounts"]["disabled"]) == (0, 0)


@pytest.mark.parametrize("config_overrides", [{"server": {"cors_origins": ["http://ui.local"]}}])
async def test_cors_preflight_for_configured_origins(
    base_url: str, config_overrides: dict[str, Any]
) -> None:
    allowed = await fetch(
        base_url + "/v1/chat/completions",
        "OPTIONS",
        headers={
            "Origin": "http://ui.local",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )
    assert allowed.code == 204
    assert allowed.headers["Access-Control-Allow-Origin"] == "http://ui.local"
    assert "POST" in allowed.headers["Access-Control-Allow-Methods"]
    assert allowed.headers["Access-Control-Allow-Headers"] == "authorization, content-type"
    other = await fetch(
        base_url + "/v1/chat/completions", "OPTIONS", headers={"Origin": "http://evil.local"}
    )
    assert "Access-Control-Allow-Origin" not in other.headers
    answer = await fetch(
        base_url + "/v1/models",
        headers={"Origin": "http://ui.local", "Authorization": f"Bearer {API_KEY}"},
    )
    assert answer.headers["Access-Control-Allow-Origin"] == "http://ui.local"


async def test_raw_sse_wire_format(base_url: str) -> None:
    response = await fetch(
        base_url + "/v1/chat/completions",
        "POST",
        headers={"Authorization": f"Bearer {API_KEY}"},
        body=json.dumps(
            {
                "model": "gemini-2.5-flash",
                "stream": True,
                "messages": [{"role": "user", "content": "wire"}],
            }
        ).encode(),
    )
    assert response.headers["Content-Type"].startswith("text/event-stream")
    assert response.headers["Cache-Control"] == "no-cache"
    assert response.headers["x-request-id"].startswith("req_")
    raw = response.body.decode()
    assert raw.endswith("data: [DONE]\n\n")
    events = raw.split("\n\n")[:-1]
    assert all(e.startswith("data: ") and "\n" not in e for e in events)
    assert not any(e.startswith("event:") for e in events)
    chunks = [json.loads(e[6:]) for e in events[:-1]]
    assert {c["object"] for c in chunks} == {"chat.completion.chunk"}
    assert len({(c["id"], c["created"], c["model"]) for c in chunks}) == 1


async def test_stream_defaults_to_false_and_config_can_flip_it(
    base_url: str, services: Services
) -> None:
    from dataclasses import replace

    body = json.dumps(
        {"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": "x"}]}
    ).encode()
    headers = {"Authorization": f"Bearer {API_KEY}"}
    plain = await fetch(base_url + "/v1/chat/completions", "POST", body, headers)
    assert plain.headers["Content-Type"] == "application/json"
    cfg = services.config.current
    services.config.swap(replace(cfg, defaults=replace(cfg.defaults, stream=True)))
    streamed = await fetch(base_url + "/v1/chat/completions", "POST", body, headers)
    assert streamed.headers["Content-Type"].startswith("text/event-stream")
