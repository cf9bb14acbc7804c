"""Anthropic-shaped errors as the SDK's exception classes, before and after the first byte
(docs/clients/claude-code.md, "Errors"), and failover of an empty upstream stream."""

from __future__ import annotations

import json
from typing import Any

import anthropic
import pytest

from ag2api.testing import fake_bodies as bodies
from ag2api.testing import fake_claude_rules
from ag2api.testing.fake_upstream import FakeUpstream, Step
from tests.support.anthropic_sse_rules import check, final_message, parse
from tests.support.clients import ANTHROPIC_HEADERS, anthropic_sdk
from tests.support.http import fetch

MODEL = "gemini-2.5-flash"
HI = [{"role": "user", "content": "hi"}]
MESSAGES = "/v1/messages?beta=true"


async def ask(client: anthropic.AsyncAnthropic, stream: bool = False, **kw: Any) -> Any:
    args: dict[str, Any] = {"model": MODEL, "max_tokens": 100, "messages": HI, **kw}
    if stream:
        async with client.messages.stream(**args) as s:
            return await s.get_final_message()
    return await client.messages.create(**args)


def error_of(exc: anthropic.APIStatusError) -> dict[str, Any]:
    body = exc.body
    assert isinstance(body, dict) and body["type"] == "error", body
    return body["error"]  # type: ignore[no-any-return]


async def test_bad_key_is_authentication_error(base_url: str) -> None:
    for bearer in (False, True):  # x-api-key (ANTHROPIC_API_KEY), Bearer (ANTHROPIC_AUTH_TOKEN)
        client = anthropic_sdk(base_url, "sk-wrong", bearer=bearer)
        good = anthropic_sdk(base_url, bearer=bearer)
        try:
            with pytest.raises(anthropic.AuthenticationError) as info:
                await ask(client)
            assert error_of(info.value)["type"] == "authentication_error"
            assert (await ask(good)).content[-1].text.endswith("You said: hi")
        finally:
            await client.close()
            await good.close()


BAD_INPUT = [
    ({"extra_body": {"temperature": 5}}, "temperature"),
    ({"thinking": {"type": "enabled", "budget_tokens": "lots"}}, "thinking.budget_tokens"),
    ({"tool_choice": {"type": "tool", "name": "nope"}}, "tool_choice"),
    ({"messages": [{"role": "robot", "content": "x"}]}, "messages.0.role"),
    ({"messages": [{"role": "user", "content": [{"type": "image", "source": {}}]}]}, "source"),
]


async def test_unknown_model_and_bad_input(
    claude: anthropic.AsyncAnthropic, fake: FakeUpstream, base_url: str
) -> None:
    with pytest.raises(anthropic.NotFoundError) as info:
        await ask(claude, model="gpt-nothing")
    assert error_of(info.value)["type"] == "not_found_error"
    assert "gpt-nothing" in error_of(info.value)["message"]
    answer = await fetch(base_url + MESSAGES, "POST", b"{not json", ANTHROPIC_HEADERS)
    assert answer.code == 400
    assert json.loads(answer.body)["error"]["type"] == "invalid_request_error"
    for kw, field in BAD_INPUT:
        with pytest.raises(anthropic.BadRequestError) as info:
            await ask(claude, **kw)
        err = error_of(info.value)
        assert err["type"] == "invalid_request_error" and field in err["message"], (kw, err)
    assert fake.generate_requests() == []


@pytest.mark.parametrize("config_overrides", [{"server": {"max_body_bytes": 4096}}])
async def test_oversized_body_is_request_too_large(
    claude: anthropic.AsyncAnthropic, fake: FakeUpstream, config_overrides: dict[str, Any]
) -> None:
    with pytest.raises(anthropic.RequestTooLargeError) as info:
        await ask(claude, messages=[{"role": "user", "content": "x" * 5000}])
    assert error_of(info.value)["type"] == "request_too_large"
    assert fake.generate_requests() == []


async def test_quota_exhausted_everywhere_is_rate_limit_with_a_long_retry_after(
    claude: anthropic.AsyncAnthropic, fake: FakeUpstream
) -> None:
    fake.script(*[Step(status=429, body=bodies.QUOTA_EXHAUSTED)] * 3)
    with pytest.raises(anthropic.RateLimitError) as info:
        await ask(claude, stream=True)
    assert error_of(info.value)["type"] == "rate_limit_error"
    # Claude Code gives up at once (and shows the message) above 60 s.
    assert int(info.value.response.headers["retry-after"]) > 60
    # Every account now cools: the next requests are refused without an upstream call.
    for stream in (False, True):
        with pytest.raises(anthropic.RateLimitError) as again:
            await ask(claude, stream)
        assert int(again.value.response.headers["retry-after"]) > 60
    assert len(fake.generate_requests()) == 3


async def test_short_pool_wide_limit_is_rate_limit_with_the_earliest_recovery(
    claude: anthropic.AsyncAnthropic, fake: FakeUpstream
) -> None:
    thirty = json.loads(
        json.dumps(bodies.RATE_LIMITED)
        .replace("0.479417207s", "30s")
        .replace("479.417207ms", "30s")
    )
    fake.script(*[Step(status=429, body=thirty)] * 3)
    with pytest.raises(anthropic.RateLimitError) as info:
        await ask(claude)
    assert info.value.response.headers["retry-after"] == "30"


@pytest.mark.parametrize("config_overrides", [{"retry": {"attempts": 3}}])
async def test_capacity_everywhere_is_529_overloaded(
    claude: anthropic.AsyncAnthropic, fake: FakeUpstream, config_overrides: dict[str, Any]
) -> None:
    for stream in (False, True):
        fake.script(*[Step(status=503, body=bodies.CAPACITY)] * 3)
        with pytest.raises(anthropic.OverloadedError) as info:  # Claude Code retries 529 3 times
            await ask(claude, stream)
        assert info.value.status_code == 529
        assert error_of(info.value)["type"] == "overloaded_error"
    assert len(fake.generate_requests()) == 6


async def test_claudes_own_error_is_returned_verbatim(
    claude: anthropic.AsyncAnthropic, fake: FakeUpstream
) -> None:
    message = "messages.1.content.0: Invalid `signature` in `thinking` block"
    for stream in (False, True):
        fake.script(Step(status=400, body=fake_claude_rules.error_body(message)))
        with pytest.raises(anthropic.BadRequestError) as info:
            await ask(claude, stream, model="claude-sonnet-4-5-thinking")
        # Claude Code's recovery (strip thinking, retry) matches this wording: no gateway prefix.
        assert info.value.body == {
            "type": "error",
            "error": {"type": "invalid_request_error", "message": message},
        }
    assert len(fake.generate_requests()) == 2  # a rejection is not retried elsewhere


async def test_mid_stream_failure_is_an_error_event_without_message_stop(
    claude: anthropic.AsyncAnthropic, fake: FakeUpstream, base_url: str
) -> None:
    fake.script(Step(drop_after=2))
    body = {"model": MODEL, "max_tokens": 100, "messages": HI, "stream": True}
    answer = await fetch(base_url + MESSAGES, body=body, headers=ANTHROPIC_HEADERS)
    status, events = answer.code, parse(answer.body)
    assert status == 200
    check(events, complete=False)
    assert events[-1][0] == "error" and "message_stop" not in [n for n, _ in events]
    assert events[-1][1]["error"]["type"] in ("api_error", "overloaded_error")
    assert len(fake.generate_requests()) == 1  # bytes were out: no retry

    fake.script(Step(drop_after=2))
    with pytest.raises(anthropic.APIStatusError) as info:
        await ask(claude, stream=True)
    assert error_of(info.value)["type"] in ("api_error", "overloaded_error")


async def test_an_empty_upstream_answer_is_retried_on_another_account(
    fake: FakeUpstream, base_url: str
) -> None:
    usage_only = bodies.response_event([], model=MODEL, response_id="r0")
    usage_only["response"]["candidates"] = []
    usage_only["response"]["usageMetadata"] = {"promptTokenCount": 3, "totalTokenCount": 3}
    for stream in (True, False):
        fake.requests.clear()
        fake.script(Step(events=[usage_only]))
        body = {"model": MODEL, "max_tokens": 100, "messages": HI, "stream": stream}
        answer = await fetch(base_url + MESSAGES, body=body, headers=ANTHROPIC_HEADERS)
        status, raw = answer.code, answer.body
        assert status == 200
        message = final_message(parse(raw)) if stream else json.loads(raw)
        if stream:
            check(parse(raw))
            assert raw.count(b"event: message_start") == 1
        assert message["content"][-1]["text"].endswith("You said: hi")
        projects = [r.body["project"] for r in fake.generate_requests()]
        assert len(projects) == 2 and projects[0] != projects[1]
