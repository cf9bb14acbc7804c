"""The client keys the tests present, and the real SDKs built against a gateway on loopback (no
SDK retries: a failure is the gateway's answer, seen once).

The Anthropic and Google SDKs take a second or more to import: they are imported when first
built, so that a run of tests that never use them (and the conftest) does not pay for them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import openai

if TYPE_CHECKING:
    import anthropic
    from google import genai

API_KEY = "sk-test-0123456789abcdef"  # the base config's one key (label "tests")
ALICE = "sk-alice-0123456789"  # a second key, for policies (label "alice")
ADMIN = "admin-secret-123456"  # the operator's key, once the config names it
WITH_ADMIN = {"admin_key": ADMIN}  # config overrides that turn /admin on


def with_alice(policy: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """Config overrides: the tests' key, and Alice's with ``policy``."""
    return {
        "api_keys": [
            {"key": API_KEY, "label": "tests"},
            {"key": ALICE, "label": "alice", "policy": policy},
        ],
        **extra,
    }


def openai_sdk(base_url: str, key: str = API_KEY, **options: Any) -> openai.AsyncOpenAI:
    """OpenAI's SDK on the gateway root (``/v1`` is added)."""
    return openai.AsyncOpenAI(base_url=base_url + "/v1", api_key=key, max_retries=0, **options)


def anthropic_sdk(
    base_url: str, key: str = API_KEY, *, bearer: bool = False
) -> anthropic.AsyncAnthropic:
    """Anthropic's SDK on the gateway root (like ANTHROPIC_BASE_URL); the key in x-api-key, or
    with ``bearer`` as Authorization (ANTHROPIC_AUTH_TOKEN)."""
    import anthropic

    if bearer:
        return anthropic.AsyncAnthropic(
            base_url=base_url, auth_token=key, api_key=None, max_retries=0
        )
    return anthropic.AsyncAnthropic(base_url=base_url, api_key=key, max_retries=0)


def gemini_sdk(base_url: str, key: str = API_KEY) -> genai.Client:
    """google-genai on the gateway root (v1beta); close with :func:`close_gemini`."""
    from google import genai
    from google.genai import types

    return genai.Client(
        api_key=key, http_options=types.HttpOptions(base_url=base_url, api_version="v1beta")
    )


async def close_gemini(client: genai.Client) -> None:
    await client.aio.aclose()
    client.close()


# What the Anthropic SDK sends besides the body, for raw requests to /v1/messages.
ANTHROPIC_HEADERS = {"x-api-key": API_KEY, "anthropic-version": "2023-06-01"}
