"""Request log lines, usage statistics (across a restart), /metrics, admin access."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import openai
import pytest
from prometheus_client.parser import text_string_to_metric_families

from ag2api.config.live import read_config
from ag2api.observe.usage import query_usage
from ag2api.services import Services, build_services
from ag2api.testing import fake_bodies as bodies
from ag2api.testing.fake_upstream import FakeUpstream, Step
from tests.support.clients import ADMIN, API_KEY, WITH_ADMIN
from tests.support.helpers import chat_text
from tests.support.http import fetch


def chat_lines(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [line for line in lines if line["path"] == "/v1/chat/completions"]


async def test_request_log_lines(
    client: openai.AsyncOpenAI, fake: FakeUpstream, request_lines: list[dict[str, Any]]
) -> None:
    await chat_text(client, stream=True)
    await chat_text(client)
    fake.script(Step(status=429, body=bodies.QUOTA_EXHAUSTED))
    await chat_text(client)  # fails over once
    with pytest.raises(openai.BadRequestError):
        await client.chat.completions.create(model="gemini-2.5-flash", messages=[], stream=True)
    streamed, plain, failover, bad = chat_lines(request_lines)
    assert streamed["stream"] is True and plain["stream"] is False
    for line in (streamed, plain, failover):
        assert line["status"] == 200 and line["key"] == "tests"
        assert line["model"] == "gemini-2.5-flash" and line["error_type"] is None
        assert line["tokens_in"] > 0 and line["tokens_out"] == 18 and line["tokens_reasoning"] == 8
        assert line["upstream_ms"] is not None and line["duration_ms"] >= line["upstream_ms"]
        assert line["request_id"].startswith("req_") and line["time"].endswith("Z")
    assert streamed["ttft_ms"] is not None and plain["ttft_ms"] is None
    assert streamed["project"] == "proj…0001" and failover["project"] == "proj…0002"
    assert (plain["attempts"], failover["attempts"]) == (1, 2)
    assert bad["status"] == 400 and bad["error_type"] == "invalid_request"
    text = json.dumps(request_lines)
    assert API_KEY not in text and "proj-alpha-0001" not in text


async def test_usage_totals_survive_a_restart(
    client: openai.AsyncOpenAI, fake: FakeUpstream, services: Services, config_path: Path
) -> None:
    for stream in (True, False, True):
        await chat_text(client, stream=stream)
    fake.script(Step(status=400, body=bodies.INVALID_ARGUMENT))
    with pytest.raises(openai.BadRequestError):
        await chat_text(client)
    await services.usage.flush()
    rows = await services.usage.run(lambda db: query_usage(db, group_by=("key", "model")))
    assert rows == [
        {
            "key": "tests",
            "model": "gemini-2.5-flash",
            "requests": 4,
            "prompt_tokens": rows[0]["prompt_tokens"],
            "completion_tokens": 54,
            "reasoning_tokens": 24,
            "errors": 1,
            "credit_requests": 0,
            "fallback_requests": 0,
        }
    ]
    restarted = build_services(read_config(config_path, environ={}))
    try:
        restarted.usage.add(
            key="tests",
            model="gemini-2.5-flash",
            project="proj…0002",
            prompt=1,
            completion=2,
            reasoning=0,
            error=False,
        )
        await restarted.usage.flush()
        again = await restarted.usage.run(lambda db: query_usage(db, group_by=("key",)))
        assert again[0]["requests"] == 5 and again[0]["completion_tokens"] == 56
    finally:
        await restarted.aclose()


async def test_metrics_parse_and_count(
    client: openai.AsyncOpenAI, fake: FakeUpstream, base_url: str
) -> None:
    fake.script(Step(status=503, body=bodies.CAPACITY))
    await chat_text(client, stream=True)
    response = await fetch(base_url + "/metrics")
    assert response.code == 200
    families = {f.name: f for f in text_string_to_metric_families(response.body.decode())}
    requests = {
        (s.labels["route"], s.labels["status"]): s.value
        for s in families["ag2api_requests"].samples
        if s.name.endswith("_total")
    }
    assert requests[("chat", "200")] == 1
    assert {
        s.labels["reason"]: s.value
        for s in families["ag2api_upstream_retries"].samples
        if s.name.endswith("_total")
    } == {"5xx": 1}
    states = {s.labels["state"]: s.value for s in families["ag2api_accounts"].samples}
    assert states == {"enabled": 3, "disabled": 0, "cooling": 0}
    for name in (
        "ag2api_gateway_overhead_seconds",
        "ag2api_upstream_seconds",
        "ag2api_time_to_first_token_seconds",
        "ag2api_tokens",
        "ag2api_token_refreshes",
        "ag2api_failovers",
    ):
        assert name in families, name
    labels = {k for f in families.values() for s in f.samples for k in s.labels}
    assert not labels & {"request_id", "key", "api_key"}  # bounded cardinality


@pytest.mark.parametrize("config_overrides", [WITH_ADMIN])
async def test_admin_access(
    base_url: str, client: openai.AsyncOpenAI, fake: FakeUpstream, config_overrides: dict[str, Any]
) -> None:
    await chat_text(client)
    assert (await fetch(base_url + "/admin/usage")).code == 401
    assert (
        await fetch(base_url + "/admin/usage", key=API_KEY)
    ).code == 401  # client keys are not admin
    response = await fetch(base_url + "/admin/usage?group_by=model,project", key=ADMIN)
    assert response.code == 200
    assert json.loads(response.body)["data"][0]["model"] == "gemini-2.5-flash"
    bad = await fetch(base_url + "/admin/usage?group_by=secret", key=ADMIN)
    assert bad.code == 400 and json.loads(bad.body)["error"]["param"] == "group_by"
    fake.models = bodies.used_up(fake.models, "claude-sonnet-4-5-thinking")
    accounts = json.loads((await fetch(base_url + "/admin/accounts?refresh=1", key=ADMIN)).body)
    first = accounts["accounts"][0]
    assert first["project"] == "proj…0001" and first["uses"] == 1
    quota = {q["model"]: q["remaining"] for q in first["quota"]["models"]}
    assert quota["gemini-2.5-flash"] == 0.9 and quota["claude-sonnet-4-5-thinking"] == 0.0
    page = await fetch(base_url + "/admin/", follow_redirects=False)
    assert page.code == 302 and page.headers["Location"] == "/admin/login"
    login = await fetch(
        base_url + "/admin/login", method="POST", body="key=" + ADMIN, follow_redirects=False
    )
    cookie = login.headers["Set-Cookie"]
    assert login.code == 302 and "HttpOnly" in cookie and "Secure" in cookie
    assert "SameSite=Strict" in cookie and ADMIN not in cookie
    wrong = await fetch(base_url + "/admin/login", method="POST", body="key=nope-nope-nope")
    assert wrong.code == 401


async def test_admin_is_off_without_an_admin_key(base_url: str) -> None:
    response = await fetch(base_url + "/admin/usage", key=API_KEY)
    assert response.code == 404 and json.loads(response.body)["error"]["code"] == "not_found"


@pytest.mark.parametrize(
    "config_overrides", [{**WITH_ADMIN, "observability": {"metrics_require_admin": True}}]
)
async def test_metrics_can_require_the_admin_key(
    base_url: str, config_overrides: dict[str, Any]
) -> None:
    assert (await fetch(base_url + "/metrics")).code == 401
    assert (await fetch(base_url + "/metrics", key=ADMIN)).code == 200
