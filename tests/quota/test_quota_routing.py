"""Quota-aware routing over HTTP against the fake's pool model, on both state backends: a model
an account has used up is skipped until its reset (from the 429, confirmed by the quota check it
triggers) while that account serves other models; credits serve once the free quota is out
(only when allowed, never after the upstream refused them until the next check); /admin,
/admin/accounts and /metrics show it all."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from ag2api.accounts.store import update_tokens
from ag2api.observe.usage import query_usage
from ag2api.server.watch import FileWatcher
from ag2api.services import Services
from ag2api.testing.fake_pool import PoolModel
from ag2api.testing.fake_upstream import FakeUpstream
from tests.support.clients import API_KEY
from tests.support.clock import FakeClock
from tests.support.replicas import replicas
from tests.support.upstream import projects

ALPHA, BETA, GAMMA = "proj-alpha-0001", "proj-beta-0002", "proj-gamma-0003"
MODEL, OTHER = "claude-sonnet-4-5", "gemini-2.5-flash"
ADMIN = "admin-key-0123456789"
HOUR = 3600.0


@pytest.fixture
def extra() -> dict[str, Any]:
    return {}


@pytest.fixture
def config_overrides(backend_config: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    doc: dict[str, Any] = {"routing": {"strategy": "fill"}, "admin_key": ADMIN, **extra}
    return {**doc, **backend_config}


@pytest.fixture
def quota_clock(fake: FakeUpstream) -> FakeClock:
    clock = FakeClock(now=time.time())
    fake.pool = PoolModel(clock=clock)
    return clock


async def chat(http: httpx.AsyncClient, url: str, model: str, text: str = "hi") -> httpx.Response:
    return await http.post(
        url + "/v1/chat/completions",
        json={"model": model, "messages": [{"role": "user", "content": text}]},
        headers={"Authorization": f"Bearer {API_KEY}"},
    )


def models_checked(fake: FakeUpstream, project: str) -> int:
    return sum(
        1
        for r in fake.requests
        if "fetchAvailableModels" in r.path and r.body.get("project") == project
    )


async def test_a_used_up_model_is_skipped_until_its_reset(
    fake: FakeUpstream, base_url: str, services: Services, quota_clock: FakeClock, backend: str
) -> None:
    if backend == "memory":
        services.pool.clock = quota_clock  # the gateway's time moves with the fake's
    pool = fake.pool
    assert pool is not None
    pool.use_up(ALPHA, MODEL)
    reset = quota_clock() + 5 * HOUR
    async with httpx.AsyncClient(timeout=30) as http:
        assert (await chat(http, base_url, OTHER)).status_code == 200  # the model list is in
        checked = models_checked(fake, ALPHA)
        assert (await chat(http, base_url, MODEL)).status_code == 200
        assert projects(fake) == [ALPHA, ALPHA, BETA]  # alpha said QUOTA_EXHAUSTED; beta served
        await services.quota.settle()  # the 429 had alpha's quota checked again
        assert models_checked(fake, ALPHA) == checked + 1
        alpha = services.pool.get(ALPHA)
        assert alpha is not None
        until = services.state.cooling_until(alpha, MODEL)
        # Skipped until the reset the check confirmed, beyond retry.max_cooldown's cap.
        assert until is not None and abs(until - reset) < 5
        if backend == "memory":
            quota_clock.advance(2 * HOUR)
        for _ in range(3):
            assert (await chat(http, base_url, MODEL)).status_code == 200
        assert ALPHA not in projects(fake)[3:]
        assert (await chat(http, base_url, OTHER)).status_code == 200
        assert projects(fake)[-1] == ALPHA  # it serves its other models all the while
        if backend == "memory":
            quota_clock.advance(3 * HOUR + 60)  # past the reset
            assert (await chat(http, base_url, MODEL)).status_code == 200
            assert projects(fake)[-1] == ALPHA


@pytest.mark.parametrize("backend", ["redis"])
async def test_the_other_replica_skips_the_used_up_model(
    fake: FakeUpstream, config_path: Path, quota_clock: FakeClock, backend: str
) -> None:
    pool = fake.pool
    assert pool is not None
    pool.use_up(ALPHA, MODEL)
    async with replicas(config_path) as (a, b), httpx.AsyncClient(timeout=30) as http:
        assert (await chat(http, a.url, MODEL)).status_code == 200
        assert projects(fake) == [ALPHA, BETA]
        await a.services.quota.settle()
        await a.services.state.settle()
        for _ in range(2):
            assert (await chat(http, b.url, MODEL)).status_code == 200
        assert ALPHA not in projects(fake)[2:]
        assert (await chat(http, b.url, OTHER)).status_code == 200
        assert projects(fake)[-1] == ALPHA


async def test_without_credits_a_used_up_pool_answers_429(
    fake: FakeUpstream, base_url: str, services: Services, quota_clock: FakeClock, backend: str
) -> None:
    pool = fake.pool
    assert pool is not None
    pool.credits[BETA] = 1000
    for project in (ALPHA, BETA, GAMMA):
        pool.use_up(project, MODEL)
    await services.quota.refresh()
    async with httpx.AsyncClient(timeout=30) as http:
        answer = await chat(http, base_url, MODEL)
    assert answer.status_code == 429 and "retry-after" in answer.headers
    assert not fake.generate_requests()  # every account known to be out: nothing sent
    assert services.quota.book.credits(BETA) is None  # not asked: credits are off


@pytest.mark.parametrize("extra", [{"accounts": {"use_credits": True}}])
async def test_credits_serve_when_the_free_quota_is_out(
    fake: FakeUpstream,
    base_url: str,
    services: Services,
    watcher: FileWatcher,
    tokens_path: Path,
    quota_clock: FakeClock,
    backend: str,
) -> None:
    pool = fake.pool
    assert pool is not None
    pool.credits.update({ALPHA: 5, BETA: 1000})  # alpha has less than the minimum (50)
    # gamma's own entry in tokens.json says no, whatever accounts.use_credits says.
    update_tokens(tokens_path, lambda doc: doc["projects"][2].update(use_credits=False))
    await watcher.wait_for(lambda: getattr(services.pool.get(GAMMA), "use_credits", 0) is False)
    pool.credits[GAMMA] = 1000
    for project in (ALPHA, BETA, GAMMA):
        pool.use_up(project, MODEL)
    await services.quota.refresh()
    async with httpx.AsyncClient(timeout=30) as http:
        answer = await chat(http, base_url, MODEL)
        assert answer.status_code == 200, answer.text
        [sent] = fake.generate_requests()
        assert sent.body["project"] == BETA
        assert sent.body["enabledCreditTypes"] == ["GOOGLE_ONE_AI"]
        assert "enabledCreditTypes" not in sent.body["request"]
        assert pool.credits[BETA] == 990
        accounts = (
            await http.get(
                base_url + "/admin/accounts", headers={"Authorization": f"Bearer {ADMIN}"}
            )
        ).json()["accounts"]
        credits = {a["project"]: a["credits"] for a in accounts}
        assert credits["proj…0002"]["in_use"] and credits["proj…0002"]["amount"] == 1000
        assert not credits["proj…0001"]["usable"] and not credits["proj…0003"]["enabled"]
        # The credits run out upstream: refused once, then not tried until the next check.
        pool.credits[BETA] = 0
        assert (await chat(http, base_url, MODEL)).status_code == 429
        assert len(fake.generate_requests()) == 2
        assert (await chat(http, base_url, MODEL)).status_code == 429
        assert len(fake.generate_requests()) == 2
        pool.credits[BETA] = 500
        await services.quota.refresh()
        assert (await chat(http, base_url, MODEL)).status_code == 200
    await services.usage.flush()
    rows = await services.usage.run(lambda db: query_usage(db, group_by=("model",)))
    served = next(r for r in rows if r["model"] == MODEL)
    assert served["credit_requests"] == 2 and served["errors"] == 2
    async with httpx.AsyncClient(timeout=30) as http:
        metrics = (await http.get(base_url + "/metrics")).text
    families = {f.name: f for f in text_string_to_metric_families(metrics)}
    on_credits = {
        s.labels["model"]: s.value
        for s in families["ag2api_credit_requests"].samples
        if s.name == "ag2api_credit_requests_total"
    }
    assert on_credits == {MODEL: 2}


@pytest.mark.parametrize("extra", [{"accounts": {"use_credits": True}}])
async def test_the_quota_display(
    fake: FakeUpstream, base_url: str, services: Services, quota_clock: FakeClock, backend: str
) -> None:
    pool = fake.pool
    assert pool is not None
    pool.credits.update({ALPHA: 300, GAMMA: 5})  # gamma has less than the minimum (50)
    pool.use_up(BETA, MODEL)
    auth = {"Authorization": f"Bearer {ADMIN}"}
    async with httpx.AsyncClient(timeout=30) as http:
        assert (await chat(http, base_url, OTHER)).status_code == 200  # alpha spends some
        shown = (await http.get(base_url + "/admin/accounts?refresh=1", headers=auth)).json()
        metrics = (await http.get(base_url + "/metrics")).text
    alpha, beta = shown["accounts"][0], shown["accounts"][1]
    models = {m["model"]: m for m in alpha["quota"]["models"]}
    assert 0 < models[OTHER]["remaining"] < 1 and models[OTHER]["reset_time"]
    assert models[OTHER]["skipped_until"] is None
    buckets = {b["bucket"]: b for b in alpha["quota"]["buckets"]}
    assert set(buckets) == {"gemini-5h", "gemini-weekly", "3p-5h", "3p-weekly"}
    assert buckets["gemini-weekly"]["window"] == "weekly" and buckets["3p-5h"]["remaining"] == 1
    out = {m["model"]: m for m in beta["quota"]["models"]}[MODEL]
    assert out["remaining"] == 0 and out["skipped_until"] and out["skip_reason"]
    assert out["skip_reason"].startswith("QUOTA_EXHAUSTED")
    assert alpha["credits"]["amount"] == 300 and alpha["credits"]["usable"]
    families = {f.name: f for f in text_string_to_metric_families(metrics)}
    left = {
        (s.labels["project"], s.labels["model"]): s.value
        for s in families["ag2api_quota_remaining_ratio"].samples
    }
    assert left["proj…0002", MODEL] == 0 and 0 < left["proj…0001", OTHER] < 1
    bucket_left = {
        (s.labels["project"], s.labels["bucket"])
        for s in families["ag2api_quota_bucket_remaining_ratio"].samples
    }
    assert ("proj…0001", "gemini-weekly") in bucket_left
    until = {
        (s.labels["project"], s.labels["model"])
        for s in families["ag2api_account_cooldown_until_seconds"].samples
    }
    assert ("proj…0002", MODEL) in until
    opened = quota_clock()  # alpha's first use of OTHER opened its 5-hour window
    resets = {
        (s.labels["project"], s.labels["model"]): s.value
        for s in families["ag2api_quota_reset_time_seconds"].samples
    }
    assert abs(resets["proj…0001", OTHER] - (opened + 5 * HOUR)) < 2
    bucket_resets = {
        (s.labels["project"], s.labels["bucket"]): s.value
        for s in families["ag2api_quota_bucket_reset_time_seconds"].samples
    }
    assert abs(bucket_resets["proj…0001", "gemini-5h"] - (opened + 5 * HOUR)) < 2
    assert abs(bucket_resets["proj…0001", "gemini-weekly"] - (opened + 7 * 24 * HOUR)) < 2
    amount = {s.labels["project"]: s.value for s in families["ag2api_credits_amount"].samples}
    usable = {s.labels["project"]: s.value for s in families["ag2api_credits_usable"].samples}
    assert amount == {"proj…0001": 300, "proj…0003": 5}  # beta has none to report
    assert usable == {"proj…0001": 1, "proj…0003": 0}
    assert ALPHA not in metrics and BETA not in metrics  # masked ids only
    async with httpx.AsyncClient(timeout=30) as http:  # the console's Accounts page reads this
        console = (await http.get(base_url + "/admin/api/accounts", headers=auth)).json()
    row = {a["id"]: a for a in console["accounts"]}["proj…0002"]
    shown = {m["model"]: m for m in row["quota"]["models"]}[MODEL]
    assert shown["skipped_until"] == out["skipped_until"] and row["quota"]["buckets"]
    assert row["credits"] == beta["credits"]
