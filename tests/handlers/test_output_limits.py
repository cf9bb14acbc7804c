"""One rule for output-token limits across the four APIs: any positive integer is taken and capped
at the model's limit (Claude's 64,000, Gemini's 65,536); anything else is a 400 naming it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import anthropic
import openai
import pytest
from google import genai
from google.genai import errors as genai_errors
from google.genai import types

from ag2api.testing.fake_upstream import FakeUpstream

SAY: Any = [{"role": "user", "content": "hi"}]
CAPS = {"claude-sonnet-4-5": 64_000, "gemini-2.5-flash": 65_536}
HUGE = 20_000_000  # over every model's limit (and over the 10 M some routes used to refuse)


@pytest.fixture
def clients(
    claude: anthropic.AsyncAnthropic, gemini: genai.Client
) -> tuple[anthropic.AsyncAnthropic, genai.Client]:
    return claude, gemini


def calls(
    client: openai.AsyncOpenAI, claude: anthropic.AsyncAnthropic, gemini: genai.Client
) -> dict[str, Callable[[str, Any], Awaitable[Any]]]:
    """Per API: (model, limit) → the request asking for that many output tokens."""
    return {
        "chat": lambda model, n: client.chat.completions.create(
            model=model, messages=SAY, max_completion_tokens=n
        ),
        "chat max_tokens": lambda model, n: client.chat.completions.create(
            model=model, messages=SAY, max_tokens=n
        ),
        "responses": lambda model, n: client.responses.create(
            model=model, input="hi", max_output_tokens=n
        ),
        "messages": lambda model, n: claude.messages.create(
            model=model,
            messages=SAY,
            max_tokens=n,
            timeout=30,  # no "use streaming" refusal
        ),
        "gemini": lambda model, n: gemini.aio.models.generate_content(
            model=model,
            contents="hi",
            # Built unchecked: the SDK itself would refuse a float.
            config=types.GenerateContentConfig.model_construct(max_output_tokens=n),
        ),
    }


async def test_above_the_models_limit_is_capped_everywhere(
    client: openai.AsyncOpenAI,
    clients: tuple[anthropic.AsyncAnthropic, genai.Client],
    fake: FakeUpstream,
) -> None:
    for api, call in calls(client, *clients).items():
        for model, cap in CAPS.items():
            before = len(fake.generate_requests())
            await call(model, HUGE)
            sent = fake.generate_requests()[before].body["request"]["generationConfig"]
            assert sent["maxOutputTokens"] == cap, (api, model)
            await call(model, 1000)  # under the limit: as asked
            sent = fake.generate_requests()[-1].body["request"]["generationConfig"]
            assert sent["maxOutputTokens"] == 1000, (api, model)


@pytest.mark.parametrize("bad", [0, -5, 2.5])
async def test_not_a_positive_integer_is_a_400_everywhere(
    client: openai.AsyncOpenAI,
    clients: tuple[anthropic.AsyncAnthropic, genai.Client],
    fake: FakeUpstream,
    bad: Any,
) -> None:
    errors = (openai.BadRequestError, anthropic.BadRequestError, genai_errors.ClientError)
    for api, call in calls(client, *clients).items():
        with pytest.raises(errors) as info:
            await call("gemini-2.5-flash", bad)
        assert getattr(info.value, "status_code", None) == 400 or info.value.code == 400, api  # type: ignore[union-attr]
        assert "tokens" in str(info.value).lower(), api  # the message names the field
    assert fake.generate_requests() == []
