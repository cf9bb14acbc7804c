"""Before the first byte: next base URL, next account, honest final errors. After it: in-band."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import openai
import pytest

from ag2api.services import Services
from ag2api.testing import fake_bodies as bodies
from ag2api.testing.fake_upstream import FakeUpstream, Step
from tests.support.clients import API_KEY
from tests.support.clock import FakeClock
from tests.support.helpers import MSG, chat_text
from tests.support.http import closed_port_url, fetch


def calls(fake: FakeUpstream) -> list[tuple[str, str]]:
    return [(r.host, r.body["project"]) for r in fake.generate_requests()]


@pytest.mark.parametrize("stream", [False, True], ids=["nonstream", "stream"])
async def test_429_fails_over_to_the_next_account(
    client: openai.AsyncOpenAI, fake: FakeUpstream, stream: bool
) -> None:
    fake.script(Step(status=429, body=bodies.QUOTA_EXHAUSTED))
    assert (await chat_text(client, stream)).endswith("You said: hi")
    assert calls(fake) == [("a", "proj-alpha-0001"), ("a", "proj-beta-0002")]


@pytest.mark.parametrize("stream", [False, True], ids=["nonstream", "stream"])
async def test_every_account_429_gives_429_with_retry_after(
    client: openai.AsyncOpenAI, fake: FakeUpstream, stream: bool
) -> None:
    thirty = json.loads(
        json.dumps(bodies.RATE_LIMITED)
        .replace("0.479417207s", "30s")
        .replace("479.417207ms", "30s")
    )
    fake.script(
        Step(status=429, body=bodies.QUOTA_EXHAUSTED),
        Step(status=429, body=thirty),
        Step(status=429, body=bodies.QUOTA_EXHAUSTED),
    )
    with pytest.raises(openai.RateLimitError) as info:
        await chat_text(client, stream)
    assert info.value.code == "rate_limit_exceeded"
    assert info.value.response.headers["Retry-After"] == "30"  # the earliest recovery
    assert len(calls(fake)) == 3


async def test_short_limits_everywhere_are_waited_out(
    client: openai.AsyncOpenAI, fake: FakeUpstream, gateway_clock: FakeClock
) -> None:
    fake.script(*[Step(status=429, body=bodies.RATE_LIMITED)] * 3)
    assert await chat_text(client)  # 0.48 s later the last account answers
    assert [p for _, p in calls(fake)] == [
        "proj-alpha-0001",
        "proj-beta-0002",
        "proj-gamma-0003",
        "proj-gamma-0003",
    ]
    # The limit's 0.48 s (and the ms the state rounds a cooldown's end up to, if any).
    assert gateway_clock.waited == pytest.approx(0.479417207, abs=1e-3)


@pytest.mark.parametrize("config_overrides", [{"retry": {"attempts": 2}}])
async def test_attempts_are_bounded(
    client: openai.AsyncOpenAI, fake: FakeUpstream, config_overrides: dict[str, Any]
) -> None:
    fake.script(*[Step(status=429, body=bodies.QUOTA_EXHAUSTED)] * 3)
    with pytest.raises(openai.RateLimitError) as info:
        await chat_text(client, False)
    # QUOTA_EXHAUSTED says 161 h; the cooldown is capped at retry.max_cooldown (1 h), then probed.
    assert int(info.value.response.headers["Retry-After"]) == 3600
    assert len(calls(fake)) == 2


@pytest.fixture
def config_overrides(fake: FakeUpstream) -> dict[str, Any]:
    return {"upstream": {"base_urls": fake.urls}}


@pytest.mark.parametrize("stream", [False, True], ids=["nonstream", "stream"])
async def test_5xx_tries_the_next_base_url_then_the_next_account(
    client: openai.AsyncOpenAI, fake: FakeUpstream, stream: bool
) -> None:
    fake.script(
        Step(status=503, body=bodies.CAPACITY, host="a"),
        Step(status=500, body=bodies.INTERNAL, host="b"),
    )
    assert (await chat_text(client, stream)).endswith("You said: hi")
    assert calls(fake) == [
        ("a", "proj-alpha-0001"),
        ("b", "proj-alpha-0001"),
        ("a", "proj-beta-0002"),
    ]


async def test_5xx_everywhere_is_502(
    client: openai.AsyncOpenAI, fake: FakeUpstream, gateway_clock: FakeClock
) -> None:
    fake.script(*[Step(status=500, body=bodies.INTERNAL)] * 8)
    with pytest.raises(openai.InternalServerError) as info:
        await chat_text(client, True)
    assert info.value.status_code == 502 and info.value.code == "upstream_error"
    assert "Internal error encountered." in info.value.message
    # retry.attempts (4) attempts x 2 hosts: every account once, then one again after a backoff.
    projects = [p for _, p in calls(fake)][::2]
    assert projects[:3] == ["proj-alpha-0001", "proj-beta-0002", "proj-gamma-0003"]
    assert projects[3] in projects[:3] and len(calls(fake)) == 8
    [backoff] = gateway_clock.slept  # 0.5 s * 2**2, jittered
    assert 1.0 <= backoff <= 2.0


@pytest.mark.parametrize("config_overrides", [{"upstream": {"base_urls": [closed_port_url()]}}])
async def test_unreachable_upstream_is_502(
    client: openai.AsyncOpenAI, config_overrides: dict[str, Any], gateway_clock: FakeClock
) -> None:
    with pytest.raises(openai.InternalServerError) as info:
        await chat_text(client, False)
    assert info.value.status_code == 502 and "unreachable" in info.value.message


async def test_unreachable_first_host_falls_back_to_the_second(
    client: openai.AsyncOpenAI, fake: FakeUpstream, services: Services
) -> None:
    cfg = services.config.current
    services.config.swap(
        replace(cfg, upstream=replace(cfg.upstream, base_urls=(closed_port_url(), fake.urls[1])))
    )
    assert (await chat_text(client, True)).endswith("You said: hi")
    assert calls(fake) == [("b", "proj-alpha-0001")]


async def test_400_is_returned_without_failover(
    client: openai.AsyncOpenAI, fake: FakeUpstream
) -> None:
    fake.script(Step(status=400, body=bodies.INVALID_ARGUMENT))
    with pytest.raises(openai.BadRequestError) as info:
        await chat_text(client, True)
    assert "Request contains an invalid argument." in info.value.message
    assert len(calls(fake)) == 1


@pytest.mark.parametrize(
    "config_overrides", [{"upstream": {"timeouts": {"first_byte": 0.2, "idle": 0.2}}}]
)
async def test_no_first_byte_in_time_is_504(
    client: openai.AsyncOpenAI,
    fake: FakeUpstream,
    config_overrides: dict[str, Any],
    gateway_clock: FakeClock,
) -> None:
    fake.script(*[Step(stall_after=0)] * 4)
    with pytest.raises(openai.APIStatusError) as info:
        await chat_text(client, True)
    assert info.value.status_code == 504 and info.value.code == "upstream_timeout"
    assert len(calls(fake)) == 4  # a timeout moves on to the next account, up to retry.attempts
    await fake.stream_closed.wait()  # the stalled upstream stream was closed by the gateway


@pytest.mark.parametrize(
    "config_overrides", [{"upstream": {"timeouts": {"first_byte": 5, "idle": 0.3}}}]
)
async def test_idle_stream_ends_with_an_error_event(
    client: openai.AsyncOpenAI, fake: FakeUpstream, config_overrides: dict[str, Any]
) -> None:
    fake.script(Step(stall_after=3))
    stream = await client.chat.completions.create(
        model="gemini-2.5-flash", messages=MSG, stream=True
    )
    seen: list[str] = []
    with pytest.raises(openai.APIError) as info:
        async for chunk in stream:
            seen.append(getattr(chunk.choices[0].delta, "reasoning_content", None) or "")
    assert "Thinking about what " in seen
    assert info.value.body["code"] == "upstream_timeout"
    await fake.stream_closed.wait()


async def test_mid_stream_drop_raises_in_the_sdk_and_sends_no_done(
    client: openai.AsyncOpenAI, fake: FakeUpstream, base_url: str
) -> None:
    fake.script(Step(drop_after=3))
    stream = await client.chat.completions.create(
        model="gemini-2.5-flash", messages=MSG, stream=True
    )
    with pytest.raises(openai.APIError) as info:
        async for _ in stream:
            pass
    assert info.value.body["type"] == "upstream_error"
    assert len(calls(fake)) == 1  # never retried after the first byte


async def test_error_event_after_start_is_raw_sse(base_url: str, fake: FakeUpstream) -> None:
    fake.script(Step(drop_after=2))
    body = {
        "model": "gemini-2.5-flash",
        "stream": True,
        "messages": [{"role": "user", "content": "x"}],
    }
    response = await fetch(base_url + "/v1/chat/completions", body=body, key=API_KEY)
    assert response.code == 200
    events = response.body.decode().split("\n\n")
    assert events[-1] == ""
    assert events[-2].startswith('data: {"error":{"message":"Upstream stream failed')
    assert "[DONE]" not in response.body.decode()
    assert response.headers["Content-Type"].startswith("text/event-stream")
