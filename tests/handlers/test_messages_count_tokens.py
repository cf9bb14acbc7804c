"""`/v1/messages/count_tokens`: the upstream countTokens with exactly
``{"request": {...}}``, translated as for generation, cached by body, an estimate when the
upstream fails — always 200, and no account's health is touched."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import anthropic
import pytest

from ag2api.services import Services
from ag2api.testing import fake_bodies as bodies
from ag2api.testing.fake_upstream import FakeUpstream, Step
from tests.support.claude_code_requests import ATTRIBUTION, first_request


def count_calls(fake: FakeUpstream) -> list[Any]:
    return [r.body for r in fake.requests if r.path.startswith("/v1internal:countTokens")]


def claude_code_body() -> dict[str, Any]:
    body = first_request()
    for key in ("max_tokens", "stream", "metadata", "context_management"):
        body.pop(key)  # the SDK's count_tokens takes no such parameters
    return body


async def test_counts_upstream_and_caches_identical_bodies(
    claude: anthropic.AsyncAnthropic, fake: FakeUpstream
) -> None:
    body = claude_code_body()
    counted = await claude.messages.count_tokens(**body)
    sent = count_calls(fake)
    assert len(sent) == 1 and set(sent[0]) == {"request"}  # nothing besides the request
    request = sent[0]["request"]
    assert set(request) == {"contents", "systemInstruction", "tools"}
    # The same translation as generation: no attribution block, no cache_control, tools cleaned.
    text = json.dumps(request)
    assert ATTRIBUTION not in text and "cache_control" not in text and "$schema" not in text
    assert request["tools"][0]["functionDeclarations"][0]["name"] == "Bash"
    assert counted.input_tokens == len(json.dumps(request["contents"])) // 16  # the fake's count
    # Claude Code's VS Code extension fires dozens at start: identical bodies are answered from
    # the cache; a different body is counted again.
    again = await claude.messages.count_tokens(**body)
    assert again.input_tokens == counted.input_tokens and len(count_calls(fake)) == 1
    body["messages"][0]["content"][1]["text"] += " and more"
    await claude.messages.count_tokens(**body)
    assert len(count_calls(fake)) == 2


async def test_identical_counts_arriving_together_share_one_upstream_call(
    claude: anthropic.AsyncAnthropic, fake: FakeUpstream
) -> None:
    body = claude_code_body()
    answers = await asyncio.gather(*(claude.messages.count_tokens(**body) for _ in range(20)))
    assert len({a.input_tokens for a in answers}) == 1
    assert len(count_calls(fake)) == 1


FAILURES = [
    Step(status=429, body=bodies.QUOTA_EXHAUSTED),
    Step(status=401, body=bodies.UNAUTHENTICATED),
    Step(status=403, body=bodies.TOS_BANNED),
    Step(status=503, body=bodies.CAPACITY),
]


async def test_upstream_failure_answers_an_estimate_and_spares_the_accounts(
    claude: anthropic.AsyncAnthropic, fake: FakeUpstream, services: Services
) -> None:
    for n, failure in enumerate(FAILURES):
        fake.count_steps.extend([failure] * 8)
        counted = await claude.messages.count_tokens(
            model="claude-sonnet-4-5-thinking",
            messages=[{"role": "user", "content": str(n) + "x" * 4000}],
        )
        assert 900 <= counted.input_tokens <= 1100  # the estimate: about 4 characters a token
        assert all(a.enabled and not a.cooldowns for a in services.pool.accounts), failure
        fake.count_steps.clear()
    assert len(count_calls(fake)) == 2 * len(FAILURES)  # two accounts tried, then the estimate
    # Generation still has every account.
    done = await claude.messages.create(
        model="claude-sonnet-4-5-thinking",
        max_tokens=100,
        messages=[{"role": "user", "content": "hi"}],
    )
    assert done.content and services.dispatcher.pool.accounts[0].enabled


async def test_count_tokens_errors_are_anthropic_shaped(
    claude: anthropic.AsyncAnthropic, fake: FakeUpstream
) -> None:
    with pytest.raises(anthropic.NotFoundError) as info:
        await claude.messages.count_tokens(
            model="gpt-nothing", messages=[{"role": "user", "content": "x"}]
        )
    assert info.value.body["error"]["type"] == "not_found_error"  # type: ignore[index]
    with pytest.raises(anthropic.BadRequestError) as bad:
        await claude.messages.count_tokens(model="gemini-2.5-flash", messages=[])
    assert "messages" in bad.value.message
    with pytest.raises(anthropic.AuthenticationError):
        await claude.with_options(api_key="sk-wrong").messages.count_tokens(
            model="gemini-2.5-flash", messages=[{"role": "user", "content": "x"}]
        )
    assert count_calls(fake) == []
