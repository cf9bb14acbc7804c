"""Body limits: the count routes take what generation takes, and a chunked body over a route's
limit (its size is known only once sent) gets the route's 413 in the client's dialect."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import anthropic
import httpx
import pytest
from google import genai

from tests.support.clients import API_KEY

MIB = 1024 * 1024


async def test_count_routes_take_what_generation_takes(
    claude: anthropic.AsyncAnthropic, gemini: genai.Client
) -> None:
    long = "word " * (MIB // 2)  # 2.5 MiB of text: over 1 MiB, under server.max_body_bytes
    counted = await claude.messages.count_tokens(
        model="claude-sonnet-4-5", messages=[{"role": "user", "content": long}]
    )
    assert counted.input_tokens > 0
    total = await gemini.aio.models.count_tokens(model="gemini-2.5-flash", contents=long)
    assert total.total_tokens and total.total_tokens > 0


async def chunks(size: int) -> AsyncIterator[bytes]:
    """A JSON body of about ``size`` bytes sent chunked (no Content-Length)."""
    yield b'{"model": "gemini-2.5-flash", "pad": "'
    for _ in range(size // 65536 + 1):
        yield b"x" * 65536
    yield b'"}'


ROUTES = [
    ("/v1/chat/completions", {}, "openai"),
    ("/v1/images/generations", {}, "openai"),
    ("/v1/messages/count_tokens", {"anthropic-version": "2023-06-01"}, "anthropic"),
    ("/v1beta/models/gemini-2.5-flash:countTokens", {"x-goog-api-key": API_KEY}, "google"),
]


@pytest.mark.parametrize("config_overrides", [{"server": {"max_body_bytes": 64 * 1024}}])
@pytest.mark.parametrize(("path", "headers", "shape"), ROUTES)
async def test_a_chunked_body_over_the_limit_is_the_routes_413(
    base_url: str, path: str, headers: dict[str, str], shape: str, config_overrides: Any
) -> None:
    async with httpx.AsyncClient(timeout=30) as http:
        answer = await http.post(
            base_url + path,
            headers={"Authorization": f"Bearer {API_KEY}", **headers},
            content=chunks(2 * MIB),
        )
    assert answer.status_code == 413, answer.content[:200]
    body = json.loads(answer.content)
    if shape == "openai":
        assert body["error"]["code"] == "request_too_large"
    elif shape == "anthropic":
        assert body["type"] == "error" and body["error"]["type"] == "request_too_large"
    else:
        assert body["error"]["code"] == 413 and body["error"]["status"] == "INVALID_ARGUMENT"
