"""The upstream out of capacity on every account keeps its meaning in every dialect: a 503 with
Retry-After (Google's ``UNAVAILABLE`` on the Gemini API, ``server_error`` on Chat and Responses),
Anthropic's 529 ``overloaded_error`` on Messages."""

from __future__ import annotations

import copy
from typing import Any

import anthropic
import openai
import pytest
from google import genai
from google.genai import errors as genai_errors

from ag2api.testing import fake_bodies as bodies
from ag2api.testing.fake_upstream import FakeUpstream, Step

SAY = [{"role": "user", "content": "hi"}]
FAST = {"retry": {"attempts": 2, "backoff_base": 0.01, "backoff_max": 0.02}}


def capacity(delay: str | None) -> dict[str, Any]:
    body = copy.deepcopy(bodies.CAPACITY)
    if delay is not None:
        retry = {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": delay}
        body["error"]["details"].append(retry)
    return body


@pytest.fixture
def config_overrides() -> dict[str, Any]:
    return FAST


@pytest.fixture
def no_capacity(fake: FakeUpstream) -> FakeUpstream:
    fake.chaos = lambda body: Step(status=503, body=capacity("39s"))
    return fake


@pytest.mark.parametrize("stream", [False, True])
async def test_openai_apis_answer_503_with_retry_after(
    client: openai.AsyncOpenAI, no_capacity: FakeUpstream, stream: bool
) -> None:
    for call in (
        lambda: client.chat.completions.create(
            model="gemini-2.5-flash", messages=SAY, stream=stream
        ),
        lambda: client.responses.create(model="gemini-2.5-flash", input="hi", stream=stream),
    ):
        with pytest.raises(openai.InternalServerError) as info:
            await call()
        assert info.value.status_code == 503
        assert info.value.type == "server_error" and info.value.code == "capacity_exhausted"
        assert "No capacity available" in info.value.message
        assert info.value.response.headers["retry-after"] == "39"  # the upstream's delay


async def test_gemini_api_answers_503_unavailable(
    gemini: genai.Client, no_capacity: FakeUpstream
) -> None:
    with pytest.raises(genai_errors.ServerError) as info:
        await gemini.aio.models.generate_content(model="gemini-2.5-flash", contents="hi")
    assert info.value.code == 503 and info.value.status == "UNAVAILABLE"
    details: Any = info.value.details
    retry = [d for d in details["error"]["details"] if d["@type"].endswith("RetryInfo")]
    assert retry == [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "39s"}]


async def test_messages_keep_529_overloaded(
    claude: anthropic.AsyncAnthropic, no_capacity: FakeUpstream
) -> None:
    with pytest.raises(anthropic.APIStatusError) as info:
        await claude.messages.create(model="claude-sonnet-4-5", max_tokens=50, messages=SAY)
    assert info.value.status_code == 529
    body: Any = info.value.body
    assert body["error"]["type"] == "overloaded_error"
    assert info.value.response.headers["retry-after"] == "39"


async def test_without_a_named_delay_a_few_seconds(
    client: openai.AsyncOpenAI, fake: FakeUpstream
) -> None:
    fake.chaos = lambda body: Step(status=503, body=capacity(None))
    with pytest.raises(openai.InternalServerError) as info:
        await client.chat.completions.create(model="gemini-2.5-flash", messages=SAY)
    assert info.value.status_code == 503 and info.value.response.headers["retry-after"] == "5"
