"""One admission step for every generating route: the key's model allow-list judged on the model
that will serve, its limits and settling — for completions, token counts and images alike."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import anthropic
import openai
import pytest

from ag2api.services import Services
from ag2api.testing.fake_upstream import FakeUpstream, Step
from tests.support.clients import ALICE, with_alice
from tests.support.http import fetch

IMAGE_MODEL = "gemini-3-pro-image"
HI = [{"role": "user", "content": "hi"}]


CHEAP = {"models": {"aliases": {"claude-sonnet-cheap": "gemini-2.5-flash"}}}


@pytest.mark.parametrize(
    "config_overrides", [{**with_alice({"models": ["claude-sonnet-*"]}), **CHEAP}]
)
async def test_an_alias_cannot_reach_a_model_the_key_may_not_use(
    config_overrides: dict[str, Any],
    alice: openai.AsyncOpenAI,
    alice_claude: anthropic.AsyncAnthropic,
    fake: FakeUpstream,
    client: openai.AsyncOpenAI,
) -> None:
    # The shipped aliases send haiku-class names to a Gemini flash model.
    with pytest.raises(openai.PermissionDeniedError) as chat:
        await alice.chat.completions.create(model="claude-sonnet-haiku", messages=HI)  # type: ignore[arg-type]
    assert chat.value.code == "model_not_allowed"
    assert "gemini-2.5-flash" in chat.value.message
    with pytest.raises(anthropic.PermissionDeniedError):
        await alice_claude.messages.create(model="claude-sonnet-haiku", max_tokens=20, messages=HI)  # type: ignore[arg-type]
    with pytest.raises(anthropic.PermissionDeniedError):
        await alice_claude.messages.count_tokens(model="claude-sonnet-haiku", messages=HI)  # type: ignore[arg-type]
    assert fake.generate_requests() == []
    # A name the key may use that is served by an allowed model still goes through.
    ok = await alice_claude.messages.create(model="claude-sonnet-4-5", max_tokens=20, messages=HI)  # type: ignore[arg-type]
    assert ok.content
    # The lists agree: a configured alias is listed to a key by the model that serves it.
    with pytest.raises(openai.PermissionDeniedError):
        await alice.chat.completions.create(model="claude-sonnet-cheap", messages=HI)  # type: ignore[arg-type]
    assert "claude-sonnet-cheap" not in [m.id async for m in alice.models.list()]
    assert "claude-sonnet-cheap" in [m.id async for m in client.models.list()]


@pytest.mark.parametrize("config_overrides", [with_alice({"models": ["*flash*"]})])
async def test_a_glob_on_the_asked_name_does_not_open_claude(
    config_overrides: dict[str, Any], alice: openai.AsyncOpenAI, fake: FakeUpstream
) -> None:
    with pytest.raises(openai.PermissionDeniedError):
        await alice.chat.completions.create(model="claude-opus-flash", messages=HI)  # type: ignore[arg-type]
    assert fake.generate_requests() == []
    done = await alice.chat.completions.create(model="gemini-2.5-flash", messages=HI)  # type: ignore[arg-type]
    assert done.choices[0].message.content


@pytest.mark.parametrize("config_overrides", [with_alice({"rpm": 3})])
async def test_token_counts_count_against_rpm(
    config_overrides: dict[str, Any], alice_claude: anthropic.AsyncAnthropic, base_url: str
) -> None:
    for left in (2, 1):
        counted = await alice_claude.messages.with_raw_response.count_tokens(
            model="claude-sonnet-4-5",
            messages=HI,  # type: ignore[arg-type]
        )
        assert counted.headers["x-ratelimit-remaining-requests"] == str(left)
    gemini = await fetch(
        f"{base_url}/v1beta/models/gemini-2.5-flash:countTokens",
        method="POST",
        headers={"x-goog-api-key": ALICE, "Content-Type": "application/json"},
        body=json.dumps({"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}),
    )
    assert gemini.code == 200 and gemini.headers["x-ratelimit-remaining-requests"] == "0"
    with pytest.raises(anthropic.RateLimitError) as over:
        await alice_claude.messages.count_tokens(model="claude-sonnet-4-5", messages=HI)  # type: ignore[arg-type]
    assert over.value.body["error"]["type"] == "rate_limit_error"  # type: ignore[index]
    assert 1 <= int(over.value.response.headers["retry-after"]) <= 60


@pytest.mark.parametrize("config_overrides", [with_alice({"rpm": 10, "max_concurrent": 1})])
async def test_token_counts_take_no_concurrency_slot(
    config_overrides: dict[str, Any], alice_claude: anthropic.AsyncAnthropic, fake: FakeUpstream
) -> None:
    """Claude Code counts tokens while its stream runs: with max_concurrent 1 the count is
    answered (and counted for rpm), and the slot stays the stream's."""
    hold = asyncio.Event()
    fake.script(Step(hold=hold))
    async with alice_claude.messages.stream(
        model="claude-sonnet-4-5",
        max_tokens=100,
        messages=HI,  # type: ignore[arg-type]
    ) as stream:
        await fake.wait_generate_requests(1)  # the stream holds the key's one slot
        counted = await alice_claude.messages.with_raw_response.count_tokens(
            model="claude-sonnet-4-5",
            messages=HI,  # type: ignore[arg-type]
        )
        assert (await counted.parse()).input_tokens > 0
        assert counted.headers["x-ratelimit-remaining-requests"] == "8"  # the stream, the count
        with pytest.raises(anthropic.RateLimitError):  # a second generation still waits its turn
            await alice_claude.messages.create(
                model="claude-sonnet-4-5", max_tokens=10, messages=HI
            )  # type: ignore[arg-type]
        hold.set()
        assert (await stream.get_final_message()).content


@pytest.mark.parametrize("config_overrides", [with_alice({"models": ["claude-*"]})])
async def test_images_follow_the_model_allow_list(
    config_overrides: dict[str, Any],
    alice: openai.AsyncOpenAI,
    fake: FakeUpstream,
    services: Services,
) -> None:
    with pytest.raises(openai.PermissionDeniedError) as denied:
        await alice.images.generate(model=IMAGE_MODEL, prompt="a cat")
    assert denied.value.code == "model_not_allowed"
    assert fake.generate_requests() == []
    text = services.metrics.exposition().decode()
    assert 'ag2api_key_rejections_total{key="alice",reason="model"} 1.0' in text


@pytest.mark.parametrize("config_overrides", [with_alice({"rpm": 5, "daily_tokens": 1})])
async def test_images_are_counted_and_charged(
    config_overrides: dict[str, Any], alice: openai.AsyncOpenAI
) -> None:
    first = await alice.images.with_raw_response.generate(model=IMAGE_MODEL, prompt="a cat", n=2)
    assert first.headers["x-ratelimit-remaining-requests"] == "4"
    assert len(first.parse().data) == 2
    # The two images' tokens were charged: the daily budget is spent.
    with pytest.raises(openai.RateLimitError) as over:
        await alice.images.generate(model=IMAGE_MODEL, prompt="a dog")
    assert over.value.code == "insufficient_quota"


@pytest.mark.parametrize("config_overrides", [with_alice({"max_concurrent": 1})])
async def test_images_stop_upstream_when_the_client_leaves(
    config_overrides: dict[str, Any], alice: openai.AsyncOpenAI, fake: FakeUpstream
) -> None:
    hold = asyncio.Event()
    fake.script(Step(hold=hold))
    task = asyncio.ensure_future(alice.images.generate(model=IMAGE_MODEL, prompt="a cat"))
    await fake.wait_generate_requests(1)
    task.cancel()
    await asyncio.wait_for(fake.stream_closed.wait(), 5)  # the upstream call was aborted
    hold.set()
    # Its concurrency lease was given back: the key may generate again.
    again = await alice.images.generate(model=IMAGE_MODEL, prompt="a dog")
    assert again.data
