"""429 waves, cooldowns and probes, capacity errors, version notices, keepalive, limits."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import openai
import pytest

from ag2api.config.live import read_config
from ag2api.services import Services, build_services
from ag2api.testing import fake_bodies as bodies
from ag2api.testing.fake_upstream import FakeUpstream, Step
from tests.support.clients import API_KEY
from tests.support.clock import FakeClock
from tests.support.helpers import chat_text
from tests.support.http import fetch, health
from tests.support.upstream import projects

MODEL = "gemini-2.5-flash"


async def test_short_rate_limit_fails_over_at_once(
    client: openai.AsyncOpenAI, fake: FakeUpstream, services: Services, gateway_clock: FakeClock
) -> None:
    fake.script(Step(status=429, body=bodies.RATE_LIMITED))
    assert await chat_text(client)
    assert projects(fake) == ["proj-alpha-0001", "proj-beta-0002"]
    assert gateway_clock.slept == []  # did not wait out the 0.48 s limit
    assert services.pool.cooling_until(services.pool.accounts[0], MODEL, time.time())


@pytest.mark.parametrize("accounts_spec", [(("rt-one", "proj-alpha-0001"),)])
async def test_short_rate_limit_is_retried_on_the_only_account(
    client: openai.AsyncOpenAI, fake: FakeUpstream, accounts_spec: Any, gateway_clock: FakeClock
) -> None:
    fake.script(Step(status=429, body=bodies.RATE_LIMITED))
    assert await chat_text(client, stream=True)
    assert projects(fake) == ["proj-alpha-0001"] * 2
    # Waited for the limit to pass (and the ms the state rounds a cooldown's end up to, if any).
    assert gateway_clock.waited == pytest.approx(0.479417207, abs=1e-3)


async def test_quota_exhausted_cools_the_account_for_that_model(
    client: openai.AsyncOpenAI,
    fake: FakeUpstream,
    services: Services,
    tokens_path: Path,
    base_url: str,
) -> None:
    fake.script(Step(status=429, body=bodies.QUOTA_EXHAUSTED))
    services.pool.rotation_count = 1
    for _ in range(4):
        await chat_text(client)
    assert projects(fake) == [
        "proj-alpha-0001",
        "proj-beta-0002",
        "proj-gamma-0003",
        "proj-beta-0002",
        "proj-gamma-0003",
    ]
    await chat_text(client, model="claude-sonnet-4-5")  # other models are not affected
    assert projects(fake)[-1] == "proj-alpha-0001"
    await services.writer.flush()
    entry = json.loads(tokens_path.read_text())["projects"][0]["cooldowns"][MODEL]
    assert entry["reason"] == "QUOTA_EXHAUSTED"
    assert 3590 < entry["until"] - time.time() <= 3600  # capped by retry.max_cooldown
    state = await health(base_url)
    assert state["accounts"]["cooling"][0]["model"] == MODEL
    assert state["accounts"]["cooling"][0]["project"] == "proj…0001"


async def test_every_account_cooling_is_429_without_calling_upstream(
    client: openai.AsyncOpenAI, fake: FakeUpstream, services: Services
) -> None:
    now = time.time()
    for i, account in enumerate(services.pool.accounts):
        services.pool.cool(account, MODEL, now + 100 + 50 * i, "QUOTA_EXHAUSTED")
    with pytest.raises(openai.RateLimitError) as info:
        await chat_text(client)
    assert 99 <= int(info.value.response.headers["Retry-After"]) <= 101
    assert fake.generate_requests() == []


async def test_after_a_capped_cooldown_one_probe_goes_through(
    client: openai.AsyncOpenAI, fake: FakeUpstream, services: Services
) -> None:
    alpha = services.pool.accounts[0]
    services.pool.cool(alpha, MODEL, time.time() - 1, "QUOTA_EXHAUSTED", probe=True)  # capped
    hold = asyncio.Event()
    fake.script(Step(hold=hold, hold_after=1))
    probe = asyncio.ensure_future(chat_text(client, stream=True))
    await fake.wait_generate_requests(1)
    await chat_text(client)  # while the probe runs, alpha is skipped
    assert projects(fake) == ["proj-alpha-0001", "proj-beta-0002"]
    hold.set()
    assert await probe
    assert MODEL not in alpha.cooldowns  # the probe succeeded: cooldown over


async def test_cooldowns_survive_a_restart(
    client: openai.AsyncOpenAI, fake: FakeUpstream, services: Services, config_path: Path
) -> None:
    fake.script(Step(status=429, body=bodies.QUOTA_EXHAUSTED))
    await chat_text(client)
    await services.writer.flush()
    restarted = build_services(read_config(config_path, environ={}))
    try:
        alpha = restarted.pool.get("proj-alpha-0001")
        assert alpha is not None and restarted.pool.cooling_until(alpha, MODEL, time.time())
        assert restarted.pool.acquire(MODEL).account.project_id == "proj-beta-0002"
    finally:
        await restarted.aclose()


@pytest.mark.parametrize("accounts_spec", [(("rt-one", "proj-alpha-0001"),)])
async def test_capacity_errors_back_off_and_retry(
    client: openai.AsyncOpenAI, fake: FakeUpstream, accounts_spec: Any, gateway_clock: FakeClock
) -> None:
    fake.script(Step(status=503, body=bodies.CAPACITY), Step(status=500, body=bodies.INTERNAL))
    assert await chat_text(client)
    assert projects(fake) == ["proj-alpha-0001"] * 3
    first, second = gateway_clock.slept  # 0.5 s and 1 s, jittered
    assert 0.25 <= first <= 0.5 and 0.5 <= second <= 1.0


@pytest.mark.parametrize("config_overrides", [{"retry": {"total_seconds": 1.5, "attempts": 10}}])
@pytest.mark.parametrize("accounts_spec", [(("rt-one", "proj-alpha-0001"),)])
async def test_retries_stop_at_the_time_budget(
    client: openai.AsyncOpenAI,
    fake: FakeUpstream,
    accounts_spec: Any,
    config_overrides: dict[str, Any],
    gateway_clock: FakeClock,
) -> None:
    fake.script(*[Step(status=503, body=bodies.CAPACITY)] * 10)
    with pytest.raises(openai.InternalServerError):
        await chat_text(client)
    assert gateway_clock.waited <= 1.5  # never sleeps past the budget (the next: +1-2 s)
    assert 2 <= len(projects(fake)) < 10 and len(gateway_clock.slept) == len(projects(fake)) - 1


@pytest.mark.parametrize("mode", ["error", "text"])
@pytest.mark.parametrize("stream", [False, True])
async def test_version_notice_is_an_error_never_content(
    client: openai.AsyncOpenAI, fake: FakeUpstream, base_url: str, mode: str, stream: bool
) -> None:
    fake.min_version, fake.version_mode = (99, 0, 0), mode
    with pytest.raises(openai.APIStatusError) as info:
        await chat_text(client, stream=stream)
    assert info.value.status_code == 502 and info.value.code == "upstream_client_outdated"
    assert len(fake.generate_requests()) == 1  # every account would get the same answer
    state = await health(base_url)
    assert "raise upstream.user_agent" in state["upstream"]["version_notice"]
    assert state["status"] == "degraded"


async def raw_stream(base_url: str, on_chunk: Any) -> bytes:
    chunks: list[bytes] = []

    def collect(chunk: bytes) -> None:
        chunks.append(chunk)
        on_chunk(chunk)

    body = {"model": MODEL, "stream": True, "messages": [{"role": "user", "content": "slow"}]}
    answer = await fetch(
        base_url + "/v1/chat/completions", body=body, key=API_KEY, streaming_callback=collect
    )
    assert answer.code == 200, answer.code
    return b"".join(chunks)


@pytest.mark.parametrize("config_overrides", [{"server": {"keepalive": 0.2}}])
async def test_keepalive_during_a_long_pause_before_the_first_event(
    fake: FakeUpstream, base_url: str, config_overrides: dict[str, Any]
) -> None:
    hold = asyncio.Event()
    fake.script(Step(hold=hold, hold_after=0))
    seen = asyncio.Event()

    def on_chunk(chunk: bytes) -> None:
        if b": keepalive" in chunk:
            seen.set()

    body = asyncio.ensure_future(raw_stream(base_url, on_chunk))
    await seen.wait()  # headers and a keepalive went out while the upstream was silent
    hold.set()
    raw = (await body).decode()
    assert raw.startswith(": keepalive\n\n")
    assert raw.endswith("data: [DONE]\n\n") and "You said: slow" in raw


@pytest.mark.parametrize(
    "config_overrides",
    [{"server": {"keepalive": 0.1}, "upstream": {"timeouts": {"first_byte": 0.5}}}],
)
async def test_no_retry_once_a_keepalive_was_sent(
    fake: FakeUpstream, base_url: str, config_overrides: dict[str, Any]
) -> None:
    fake.script(Step(stall_after=0))
    raw = (await raw_stream(base_url, lambda chunk: None)).decode()
    assert raw.startswith(": keepalive")
    assert '"code":"upstream_timeout"' in raw and "[DONE]" not in raw
    assert len(fake.generate_requests()) == 1


@pytest.mark.parametrize(
    "config_overrides",
    [{"limits": {"per_account": 1, "total": 2, "slot_wait": 5}, "rotation": {"count": 1}}],
)
async def test_slots_limit_concurrency_and_then_503(
    client: openai.AsyncOpenAI,
    fake: FakeUpstream,
    services: Services,
    config_overrides: dict[str, Any],
    gateway_clock: FakeClock,
) -> None:
    hold = asyncio.Event()
    fake.script(Step(hold=hold), Step(hold=hold))
    held = [asyncio.ensure_future(chat_text(client, stream=True)) for _ in range(2)]
    await fake.wait_generate_requests(2)
    assert services.dispatcher.slots.in_use == 2
    with pytest.raises(openai.InternalServerError) as info:
        await chat_text(client)
    assert info.value.status_code == 503 and info.value.code == "server_busy"
    assert info.value.response.headers["Retry-After"] == "1"
    assert gateway_clock.slept == [5.0]  # the whole slot_wait, on the clock: no real wait
    hold.set()
    assert all(await asyncio.gather(*held))
    assert services.dispatcher.slots.in_use == 0
    assert await chat_text(client)


async def test_disconnect_frees_the_slot(
    client: openai.AsyncOpenAI, fake: FakeUpstream, services: Services
) -> None:
    hold = asyncio.Event()
    fake.script(Step(hold=hold, hold_after=0))  # silent upstream: still before the first event
    task = asyncio.ensure_future(chat_text(client, stream=True))
    await fake.wait_generate_requests(1)
    task.cancel()
    await asyncio.wait_for(fake.stream_closed.wait(), 1.0)
    hold.set()
    while services.dispatcher.slots.in_use:
        await asyncio.sleep(0)  # released in the same loop pass that closed the stream
    assert services.dispatcher.slots.in_use == 0 and len(services.open_requests) == 0


async def test_429_naming_no_delay_cools_for_the_default_time(
    client: openai.AsyncOpenAI, fake: FakeUpstream, services: Services
) -> None:
    no_delay = {
        "error": {
            "code": 429,
            "message": "Rate limit exceeded.",
            "status": "RESOURCE_EXHAUSTED",
            "details": [
                {
                    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                    "reason": "RATE_LIMIT_EXCEEDED",
                    "domain": "cloudcode-pa.googleapis.com",
                }
            ],
        }
    }
    fake.script(Step(status=429, body=no_delay))
    assert await chat_text(client)
    until = services.pool.cooling_until(services.pool.accounts[0], MODEL, time.time())
    assert until is not None and 55 < until - time.time() <= 60  # retry.default_cooldown
