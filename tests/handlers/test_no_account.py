"""No usable account at all — none configured, or every one disabled — is a non-retryable error
naming the fix in every dialect (clients retry 5xx and 529 for minutes, which changes nothing);
accounts that exist but all cool down keep the retryable 429 with Retry-After."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import anthropic
import openai
import pytest
from google import genai
from google.genai import errors as genai_errors

from ag2api.services import Services

SAY: Any = [{"role": "user", "content": "hi"}]
MODEL = "gemini-2.5-flash"


@pytest.fixture
def dialects(
    client: openai.AsyncOpenAI, claude: anthropic.AsyncAnthropic, gemini: genai.Client
) -> dict[str, Callable[[], Awaitable[Any]]]:
    return {
        "chat": lambda: client.chat.completions.create(model=MODEL, messages=SAY, stream=True),
        "responses": lambda: client.responses.create(model=MODEL, input="hi"),
        "messages": lambda: claude.messages.create(model=MODEL, max_tokens=50, messages=SAY),
        "gemini": lambda: gemini.aio.models.generate_content(model=MODEL, contents="hi"),
    }


async def refusals(dialects: dict[str, Callable[[], Awaitable[Any]]]) -> dict[str, Any]:
    """Each dialect's error for one request."""
    out: dict[str, Any] = {}
    for name, call in dialects.items():
        try:
            await call()
        except (openai.APIStatusError, anthropic.APIStatusError, genai_errors.APIError) as exc:
            out[name] = exc
        else:
            pytest.fail(f"{name} answered")
    return out


def check_not_retryable(errors: dict[str, Any], says: str) -> None:
    for name in ("chat", "responses", "messages"):
        exc = errors[name]
        assert exc.status_code == 403, name  # no client retries a 403
        assert exc.response.headers["x-should-retry"] == "false", name
        assert says in exc.message and "ag2api login" in exc.message, name
    assert errors["chat"].code == "no_usable_account"
    assert errors["messages"].body["error"]["type"] == "permission_error"
    gemini = errors["gemini"]
    assert gemini.code == 403 and gemini.status == "PERMISSION_DENIED"
    assert says in gemini.message and "ag2api login" in gemini.message
    reasons = [d.get("reason") for d in gemini.details["error"]["details"]]
    assert "NO_USABLE_ACCOUNT" in reasons


@pytest.mark.parametrize("accounts_spec", [()])
async def test_no_account_configured(
    dialects: dict[str, Callable[[], Awaitable[Any]]], accounts_spec: Any
) -> None:
    check_not_retryable(await refusals(dialects), "No enabled Google account is configured")


async def test_every_account_disabled(
    dialects: dict[str, Callable[[], Awaitable[Any]]], services: Services
) -> None:
    for account in services.state.accounts():
        services.state.disable(account, "CONSUMER_INVALID: test")
    check_not_retryable(await refusals(dialects), "Every Google account is disabled")


async def test_every_account_cooling_stays_retryable(
    dialects: dict[str, Callable[[], Awaitable[Any]]], services: Services
) -> None:
    for account in services.state.accounts():
        services.state.cool(account, MODEL, 120.0, "QUOTA_EXHAUSTED")
    errors = await refusals(dialects)
    for name in ("chat", "responses", "messages"):
        assert errors[name].status_code == 429, name
        assert 100 <= int(errors[name].response.headers["retry-after"]) <= 120, name
    assert errors["gemini"].code == 429 and errors["gemini"].status == "RESOURCE_EXHAUSTED"
