"""Per-key policies end to end, through the real SDKs against the fake upstream (memory state)."""

from __future__ import annotations

import asyncio
import hashlib
import json
from pathlib import Path
from typing import Any

import anthropic
import openai
import pytest

from ag2api.server.watch import FileWatcher
from ag2api.services import Services
from tests.support.clients import ALICE, API_KEY, anthropic_sdk, openai_sdk, with_alice
from tests.support.files import reload
from tests.support.helpers import chat_text
from tests.support.http import fetch

HASHED = "sk-hashed-0123456789"
MODEL = "gemini-2.5-flash"


@pytest.mark.parametrize("config_overrides", [with_alice({"models": ["claude-*"]})])
async def test_disallowed_model_403_in_every_dialect_and_filtered_lists(
    config_overrides: dict[str, Any], alice: openai.AsyncOpenAI, base_url: str, services: Services
) -> None:
    with pytest.raises(openai.PermissionDeniedError) as chat:
        await chat_text(alice, model=MODEL)
    assert chat.value.status_code == 403
    assert chat.value.code == "model_not_allowed"
    with pytest.raises(openai.PermissionDeniedError) as resp:
        await alice.responses.create(model=MODEL, input="hi")
    assert resp.value.code == "model_not_allowed"
    claude = anthropic_sdk(base_url, ALICE)
    try:
        with pytest.raises(anthropic.PermissionDeniedError) as msg:
            await claude.messages.create(
                model=MODEL, max_tokens=50, messages=[{"role": "user", "content": "hi"}]
            )
        assert msg.value.body["error"]["type"] == "permission_error"  # type: ignore[index]
        # An allowed model goes through.
        ok = await claude.messages.create(
            model="claude-sonnet-4-5", max_tokens=50, messages=[{"role": "user", "content": "hi"}]
        )
        assert ok.content
    finally:
        await claude.close()
    gemini = await fetch(
        f"{base_url}/v1beta/models/{MODEL}:generateContent",
        method="POST",
        headers={"x-goog-api-key": ALICE, "Content-Type": "application/json"},
        body=json.dumps({"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}),
    )
    assert gemini.code == 403
    assert json.loads(gemini.body)["error"]["status"] == "PERMISSION_DENIED"
    listed = [m.id async for m in alice.models.list()]
    assert listed and all(m.startswith("claude-") for m in listed)
    everything = openai_sdk(base_url)
    try:
        assert MODEL in [m.id async for m in everything.models.list()]
    finally:
        await everything.close()
    glist = await fetch(f"{base_url}/v1beta/models", headers={"x-goog-api-key": ALICE})
    names = [m["name"] for m in json.loads(glist.body)["models"]]
    assert names and all(n.startswith("models/claude-") for n in names)
    text = services.metrics.exposition().decode()
    assert 'ag2api_key_rejections_total{key="alice",reason="model"} 4.0' in text


@pytest.mark.parametrize("config_overrides", [with_alice({"rpm": 2, "tpm": 100000})])
async def test_rpm_429_with_retry_after_and_headers(
    config_overrides: dict[str, Any], alice: openai.AsyncOpenAI
) -> None:
    first = await alice.chat.completions.with_raw_response.create(
        model=MODEL, messages=[{"role": "user", "content": "hi"}]
    )
    h = first.headers
    assert h["x-ratelimit-limit-requests"] == "2"
    assert h["x-ratelimit-remaining-requests"] == "1"
    assert h["x-ratelimit-reset-requests"].endswith("s")
    assert h["x-ratelimit-limit-tokens"] == "100000"
    assert h["x-ratelimit-remaining-tokens"] == "100000"
    assert "x-ratelimit-reset-tokens" in h
    assert await chat_text(alice, stream=True)
    with pytest.raises(openai.RateLimitError) as over:
        await chat_text(alice)
    err = over.value
    assert err.code == "rate_limit_exceeded"
    assert 1 <= int(err.response.headers["Retry-After"]) <= 60
    assert err.response.headers["x-ratelimit-remaining-requests"] == "0"
    assert err.response.headers["x-ratelimit-limit-requests"] == "2"


@pytest.mark.parametrize("config_overrides", [with_alice({"tpm": 10})])
async def test_tpm_refuses_once_usage_is_charged(
    config_overrides: dict[str, Any], alice: openai.AsyncOpenAI, services: Services
) -> None:
    done = await alice.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "hi"}]
    )
    assert done.usage is not None and done.usage.total_tokens >= 10
    with pytest.raises(openai.RateLimitError) as over:
        await chat_text(alice, stream=True)
    assert over.value.body["type"] == "tokens"  # type: ignore[index]
    assert "Retry-After" in over.value.response.headers
    assert over.value.response.headers["x-ratelimit-remaining-tokens"] == "0"


@pytest.mark.parametrize("config_overrides", [with_alice({"daily_tokens": 5})])
async def test_budget_insufficient_quota_after_stream(
    config_overrides: dict[str, Any], alice: openai.AsyncOpenAI, base_url: str
) -> None:
    assert await chat_text(alice, stream=True)  # charged at the end of the stream
    with pytest.raises(openai.RateLimitError) as over:
        await chat_text(alice)
    assert over.value.code == "insufficient_quota"
    assert "resets at" in over.value.message
    assert over.value.response.headers["x-should-retry"] == "false"
    assert int(over.value.response.headers["Retry-After"]) <= 86400
    claude = anthropic_sdk(base_url, ALICE)
    try:
        with pytest.raises(anthropic.RateLimitError) as msg:
            await claude.messages.create(
                model=MODEL, max_tokens=50, messages=[{"role": "user", "content": "hi"}]
            )
        assert msg.value.body["error"]["type"] == "rate_limit_error"  # type: ignore[index]
    finally:
        await claude.close()


@pytest.mark.parametrize("config_overrides", [with_alice({"max_concurrent": 1})])
async def test_max_concurrent(
    config_overrides: dict[str, Any], alice: openai.AsyncOpenAI, services: Services, fake: Any
) -> None:
    gate = asyncio.Event()
    real_admit = services.state.key_admit
    admitted: list[bool] = []
    first_admitted = asyncio.Event()

    async def admit(*args: Any) -> Any:
        adm = await real_admit(*args)
        admitted.append(adm.ok)
        if adm.ok and len(admitted) == 1:
            first_admitted.set()
            await gate.wait()  # keep the first request in flight
        return adm

    services.state.key_admit = admit  # type: ignore[method-assign]
    first = asyncio.ensure_future(chat_text(alice))
    await first_admitted.wait()
    with pytest.raises(openai.RateLimitError) as busy:
        await chat_text(alice)
    assert "max_concurrent" in busy.value.message
    gate.set()
    assert await first
    assert await chat_text(alice)  # the lease was given back


@pytest.mark.parametrize(
    "config_overrides",
    [
        {
            "api_keys": [
                {"key": API_KEY, "label": "tests"},
                {"key": ALICE, "label": "alice", "policy": {"expires": "2020-01-01"}},
                {"key": "sk-off-0123456789", "label": "off", "policy": {"enabled": False}},
            ]
        }
    ],
)
async def test_expired_and_disabled_keys_401(
    config_overrides: dict[str, Any], base_url: str
) -> None:
    for key in (ALICE, "sk-off-0123456789"):
        client = openai_sdk(base_url, key)
        try:
            with pytest.raises(openai.AuthenticationError) as denied:
                await chat_text(client)
            assert denied.value.code == "invalid_api_key"
        finally:
            await client.close()
    claude = anthropic_sdk(base_url, ALICE)
    try:
        with pytest.raises(anthropic.AuthenticationError):
            await claude.messages.create(
                model=MODEL, max_tokens=50, messages=[{"role": "user", "content": "hi"}]
            )
    finally:
        await claude.close()


@pytest.mark.parametrize(
    "config_overrides",
    [
        {
            "api_keys": [
                {"key": API_KEY, "label": "tests"},
                {
                    "key": "sha256:" + hashlib.sha256(HASHED.encode()).hexdigest(),
                    "label": "hashed",
                },
            ],
            "defaults": {"policy": {"rpm": 1}},
        }
    ],
)
async def test_hashed_key_and_defaults_policy(
    config_overrides: dict[str, Any], base_url: str, config_path: Path
) -> None:
    assert HASHED not in config_path.read_text()
    client = openai_sdk(base_url, HASHED)
    try:
        raw = await client.chat.completions.with_raw_response.create(
            model=MODEL, messages=[{"role": "user", "content": "hi"}]
        )
        assert raw.headers["x-ratelimit-limit-requests"] == "1"  # defaults.policy applies
        with pytest.raises(openai.RateLimitError):
            await chat_text(client)
    finally:
        await client.close()
    wrong = openai_sdk(base_url, "sha256:" + hashlib.sha256(HASHED.encode()).hexdigest())
    try:
        with pytest.raises(openai.AuthenticationError):  # the hash itself is no key
            await chat_text(wrong)
    finally:
        await wrong.close()


@pytest.mark.parametrize("config_overrides", [with_alice({"rpm": 100})])
async def test_live_edit_lowers_a_limit(
    config_overrides: dict[str, Any],
    base_url: str,
    alice: openai.AsyncOpenAI,
    watcher: FileWatcher,
    services: Services,
    config_path: Path,
    config_doc: dict[str, Any],
) -> None:
    for _ in range(3):
        assert await chat_text(alice)
    lowered = [
        {"key": API_KEY, "label": "tests"},
        {"key": ALICE, "label": "alice", "policy": {"rpm": 3}},
    ]
    await reload(watcher, services, config_path, config_doc, {"api_keys": lowered})
    with pytest.raises(openai.RateLimitError):
        await chat_text(alice)
    other = openai_sdk(base_url)
    try:
        assert await chat_text(other)  # a key without a policy is not limited
    finally:
        await other.close()


@pytest.mark.parametrize("config_overrides", [with_alice({"rpm": 5, "models": ["gemini-*"]})])
async def test_limit_headers_on_model_lists_and_token_counts(
    config_overrides: dict[str, Any], alice: openai.AsyncOpenAI, base_url: str
) -> None:
    await chat_text(alice)
    listed = await alice.models.with_raw_response.list()
    assert listed.headers["x-ratelimit-remaining-requests"] == "4"  # read, not counted
    assert listed.headers["x-ratelimit-limit-requests"] == "5"
    claude = anthropic_sdk(base_url, ALICE)
    try:
        counted = await claude.messages.with_raw_response.count_tokens(
            model=MODEL, messages=[{"role": "user", "content": "hi"}]
        )
        assert counted.headers["x-ratelimit-remaining-requests"] == "3"  # a count is a request
        with pytest.raises(anthropic.PermissionDeniedError):
            await claude.messages.count_tokens(
                model="claude-sonnet-4-5", messages=[{"role": "user", "content": "hi"}]
            )
    finally:
        await claude.close()
    counted_g = await fetch(
        f"{base_url}/v1beta/models/claude-sonnet-4-5:countTokens",
        method="POST",
        headers={"x-goog-api-key": ALICE, "Content-Type": "application/json"},
        body=json.dumps({"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}),
    )
    assert counted_g.code == 403
