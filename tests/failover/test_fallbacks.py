"""models.fallbacks over HTTP, on both state backends: when no account can serve the asked model
the next one serves — the answer's model and x-ag2api-served-model name it, the request log,
usage and metrics record it — and a key's policy keeps them inside its allow-list or off."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from ag2api.observe.usage import query_usage
from ag2api.services import Services
from ag2api.testing.fake_pool import PoolModel
from ag2api.testing.fake_upstream import FakeUpstream
from tests.support.clients import API_KEY

ASKED, FALLBACK = "claude-sonnet-4-5", "gemini-2.5-flash"
CLAUDE_ONLY, NO_FALLBACKS = "sk-claude-only-0123456789", "sk-no-fallbacks-0123456789"
SERVED = "x-ag2api-served-model"


@pytest.fixture
def config_overrides(backend_config: dict[str, Any]) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "api_keys": [
            {"key": API_KEY, "label": "tests"},
            {"key": CLAUDE_ONLY, "label": "claude-only", "policy": {"models": ["claude-*"]}},
            {"key": NO_FALLBACKS, "label": "no-fallbacks", "policy": {"fallbacks": False}},
        ],
        "models": {"fallbacks": {"claude-sonnet-*": [FALLBACK]}},
    }
    return {**doc, **backend_config}


async def used_up(fake: FakeUpstream, services: Services) -> None:
    """Every account has used up its quota for the asked model, and the gateway knows it."""
    fake.pool = pool = PoolModel()
    for project in ("proj-alpha-0001", "proj-beta-0002", "proj-gamma-0003"):
        pool.use_up(project, ASKED)
    await services.quota.refresh()


async def chat(http: httpx.AsyncClient, base_url: str, key: str = API_KEY) -> httpx.Response:
    return await http.post(
        base_url + "/v1/chat/completions",
        json={"model": ASKED, "messages": [{"role": "user", "content": "hi"}]},
        headers={"Authorization": f"Bearer {key}"},
    )


async def test_the_asked_model_serves_while_it_can(base_url: str, backend: str) -> None:
    async with httpx.AsyncClient(timeout=30) as http:
        answer = await chat(http, base_url)
    assert answer.status_code == 200
    assert answer.headers[SERVED] == ASKED and answer.json()["model"] == ASKED


async def test_a_fallback_serves_and_says_so(
    fake: FakeUpstream,
    base_url: str,
    services: Services,
    request_lines: list[dict[str, Any]],
    backend: str,
) -> None:
    await used_up(fake, services)
    async with httpx.AsyncClient(timeout=30) as http:
        answer = await chat(http, base_url)
        assert answer.status_code == 200, answer.text
        assert answer.headers[SERVED] == FALLBACK and answer.json()["model"] == FALLBACK
        # Claude Code, streaming: the fallback's name from the first event on.
        stream = await http.post(
            base_url + "/v1/messages",
            json={
                "model": ASKED,
                "max_tokens": 512,
                "stream": True,
                "messages": [{"role": "user", "content": "hello"}],
            },
            headers={"x-api-key": API_KEY, "anthropic-version": "2023-06-01"},
        )
        assert stream.status_code == 200 and stream.headers[SERVED] == FALLBACK
        start = next(
            json.loads(line[6:])
            for line in stream.text.splitlines()
            if line.startswith("data: ") and '"message_start"' in line
        )
        assert start["message"]["model"] == FALLBACK
        metrics = (await http.get(base_url + "/metrics")).text
    assert [r.body["model"] for r in fake.generate_requests()] == [FALLBACK, FALLBACK]
    lines = [line for line in request_lines if line["path"] != "/metrics"]
    assert [(line["model"], line["served_model"]) for line in lines] == [(ASKED, FALLBACK)] * 2
    await services.usage.flush()
    rows = await services.usage.run(lambda db: query_usage(db, group_by=("model",)))
    assert [(r["model"], r["requests"], r["fallback_requests"]) for r in rows] == [(FALLBACK, 2, 2)]
    counted = {
        (s.labels["asked"], s.labels["served"]): s.value
        for f in text_string_to_metric_families(metrics)
        if f.name == "ag2api_fallbacks"
        for s in f.samples
        if s.name.endswith("_total")
    }
    assert counted == {(ASKED, FALLBACK): 2.0}


async def test_a_key_policy_keeps_fallbacks_in_bounds(
    fake: FakeUpstream, base_url: str, services: Services, backend: str
) -> None:
    await used_up(fake, services)
    async with httpx.AsyncClient(timeout=30) as http:
        for key in (CLAUDE_ONLY, NO_FALLBACKS):  # not allowed gemini-*, or no fallbacks at all
            answer = await chat(http, base_url, key)
            assert answer.status_code == 429, answer.text
    assert not fake.generate_requests()
