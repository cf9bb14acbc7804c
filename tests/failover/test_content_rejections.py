"""Masked content rejections: the shipped sensitive_words get Claude Code and Codex past the
backend's filter (the fake plays it), and a refusal that still happens cools no account, tries
at most one other, and reaches each client as a 400 in its own dialect."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import anthropic
import httpx
import openai
import pytest
from google.genai import errors as genai_errors
from google.genai import types

from ag2api.config.schema import DEFAULT_SENSITIVE_WORDS
from ag2api.errors import CONTENT_REJECTED
from ag2api.failover.client_errors import client_error_after_retries
from ag2api.failover.rejections import ContentRejected, is_content_rejection
from ag2api.server.watch import FileWatcher
from ag2api.services import Services
from ag2api.testing import fake_bodies as bodies
from ag2api.testing.fake_filter import KNOWN_TRIGGERS
from ag2api.testing.fake_upstream import FakeUpstream, Step
from ag2api.upstream.client import UpstreamHTTPError
from ag2api.upstream.google_error import parse_google_error
from tests.support.claude_code_requests import first_request, headers
from tests.support.clients import ADMIN, anthropic_sdk, close_gemini, gemini_sdk, openai_sdk
from tests.support.clock import FakeClock
from tests.support.files import edit_config

MODEL = "gemini-2.5-flash"
UNLISTED = "You are Acme Agent, made by Acme Labs."  # refused, and in no list
SETTING = "upstream.sensitive_words"
ZWSP = "\u200b"


def limit_body(**error: Any) -> dict[str, Any]:
    return {"error": {"code": 429, "message": "x", "status": "RESOURCE_EXHAUSTED", **error}}


INFO = "type.googleapis.com/google.rpc.ErrorInfo"


@pytest.mark.parametrize(
    ("body", "quota_left", "rejection"),
    [
        (bodies.BARE_RESOURCE_EXHAUSTED, None, True),
        (bodies.BARE_RESOURCE_EXHAUSTED, 0.7, True),
        (bodies.BARE_RESOURCE_EXHAUSTED, 0.0, False),  # the account really is out
        (bodies.RATE_LIMITED, 0.7, False),
        (bodies.QUOTA_EXHAUSTED, 0.7, False),
        (limit_body(details=[{"@type": INFO, "reason": "QUOTA_EXHAUSTED"}]), 0.7, False),
        # An unknown reason with no delay: a rejection only while the account shows quota.
        (limit_body(details=[{"@type": INFO, "reason": "SOMETHING_NEW"}]), 0.7, True),
        (limit_body(details=[{"@type": INFO, "reason": "SOMETHING_NEW"}]), None, False),
        (limit_body(message="Your quota will reset after 45s."), None, False),
        ("<html>429 Too Many Requests</html>", None, False),  # a proxy's, not Google's
    ],
)
def test_which_429_is_a_content_rejection(
    body: Any, quota_left: float | None, rejection: bool
) -> None:
    text = body if isinstance(body, str) else json.dumps(body)
    assert is_content_rejection(parse_google_error(429, text), quota_left) is rejection


def test_any_rejection_among_the_failures_is_what_the_client_hears() -> None:
    bare = UpstreamHTTPError(429, json.dumps(bodies.BARE_RESOURCE_EXHAUSTED).encode())
    limited = UpstreamHTTPError(429, json.dumps(bodies.QUOTA_EXHAUSTED).encode())
    error = client_error_after_retries([ContentRejected(bare, MODEL), limited], cooling_for=30.0)
    assert (error.kind, error.status, error.retry_after) == (CONTENT_REJECTED, 400, None)
    assert SETTING in error.message and MODEL in error.message


@pytest.fixture
def filtered(fake: FakeUpstream) -> FakeUpstream:
    """The fake refusing what the real backend refuses, plus the unlisted identity."""
    fake.content_filter = (*KNOWN_TRIGGERS, UNLISTED)
    return fake


async def test_claude_code_headless_passes_with_the_defaults(
    filtered: FakeUpstream, base_url: str
) -> None:
    body = first_request("gemini-2.5-flash")  # the recorded system blocks, -p / SDK identity
    user_before = json.dumps(body["messages"][0]["content"])
    async with httpx.AsyncClient(timeout=30) as http:
        answer = await http.post(base_url + "/v1/messages?beta=true", json=body, headers=headers())
    assert answer.status_code == 200, answer.text
    assert filtered.content_rejections == 0
    request = filtered.generate_requests()[-1].body["request"]
    system = [p["text"] for p in request["systemInstruction"]["parts"]]
    assert system[0] == "You are a Claude agent, built on Anthropic's C\u200blaude Agent SDK."
    assert ZWSP not in json.dumps(request["contents"]) + json.dumps(request["tools"])
    assert json.dumps(body["messages"][0]["content"]) == user_before


@pytest.mark.parametrize("config_overrides", [{"upstream": {"sensitive_words": []}}])
async def test_with_the_list_off_the_fake_refuses_claude_code_like_the_backend(
    filtered: FakeUpstream, base_url: str, services: Services, config_overrides: dict[str, Any]
) -> None:
    async with httpx.AsyncClient(timeout=30) as http:
        answer = await http.post(
            base_url + "/v1/messages?beta=true", json=first_request(MODEL), headers=headers()
        )
    assert answer.status_code == 400
    assert answer.json()["error"]["type"] == "invalid_request_error"
    assert SETTING in answer.json()["error"]["message"]
    assert filtered.content_rejections == 2  # the first account, then one other
    assert all(not a.cooldowns for a in services.pool.accounts)


CODEX_INSTRUCTIONS = (
    "You are Codex, an agent based on GPT-5. You and the user share the same workspace and "
    "collaborate to achieve the user's goals.\n\n# Personality\nYou are a deeply pragmatic, "
    "effective software engineer."
)


async def test_codex_instructions_pass_and_user_text_goes_up_byte_for_byte(
    filtered: FakeUpstream, client: openai.AsyncOpenAI
) -> None:
    said = "Repeat: You are Codex, an agent based on GPT-5. — naïve café ✓"
    tool = {
        "type": "function",
        "name": "exec_command",
        "description": "You are Codex, an agent based on GPT-5.",
        "parameters": {"type": "object", "properties": {"cmd": {"type": "string"}}},
    }
    answer = await client.responses.create(
        model=MODEL,
        instructions=CODEX_INSTRUCTIONS,
        input=[{"role": "user", "content": [{"type": "input_text", "text": said}]}],
        tools=[tool],  # type: ignore[list-item]
    )
    assert answer.status == "completed"
    request = filtered.generate_requests()[-1].body["request"]
    system = "".join(p["text"] for p in request["systemInstruction"]["parts"])
    assert system.replace("C\u200bodex, an agent", "Codex, an agent") == CODEX_INSTRUCTIONS
    assert [p["text"] for p in request["contents"][0]["parts"]] == [said]
    [declaration] = request["tools"][0]["functionDeclarations"]
    assert declaration["description"] == tool["description"]


async def test_a_phrase_added_live_takes_effect_within_a_second(
    filtered: FakeUpstream,
    client: openai.AsyncOpenAI,
    services: Services,
    watcher: FileWatcher,
    config_path: Path,
    config_doc: dict[str, Any],
) -> None:
    messages = [{"role": "system", "content": UNLISTED}, {"role": "user", "content": "hi"}]
    with pytest.raises(openai.BadRequestError) as info:
        await client.chat.completions.create(model=MODEL, messages=messages)  # type: ignore[arg-type]
    assert info.value.code == CONTENT_REJECTED

    words = [*DEFAULT_SENSITIVE_WORDS, "acme labs"]
    edit_config(config_path, config_doc, {"upstream": {"sensitive_words": words}})
    await watcher.wait_for(
        lambda: "acme labs" in services.config.current.upstream.sensitive_words, timeout=1.0
    )
    done = await client.chat.completions.create(model=MODEL, messages=messages)  # type: ignore[arg-type]
    assert done.choices[0].message.content
    system = filtered.generate_requests()[-1].body["request"]["systemInstruction"]
    assert system["parts"][0]["text"] == "You are Acme Agent, made by A\u200bcme Labs."


def unlisted_system_body(dialect: str) -> dict[str, Any]:
    return {
        "chat": {"model": MODEL, "messages": [{"role": "system", "content": UNLISTED}, *HI]},
        "messages": {"model": MODEL, "max_tokens": 64, "system": UNLISTED, "messages": HI},
        "responses": {"model": MODEL, "instructions": UNLISTED, "input": "hi"},
        "gemini": {
            "systemInstruction": {"parts": [{"text": UNLISTED}]},
            "contents": [{"role": "user", "parts": [{"text": "hi"}]}],
        },
    }[dialect]


HI = [{"role": "user", "content": "hi"}]


async def refused(dialect: str, base_url: str) -> tuple[int, str, str]:
    """(HTTP status, error type or status, message) through the dialect's own SDK."""
    body = unlisted_system_body(dialect)
    try:
        if dialect in ("chat", "responses"):
            sdk = openai_sdk(base_url)
            async with sdk:
                if dialect == "chat":
                    await sdk.chat.completions.create(**body)
                else:
                    await sdk.responses.create(**body)
        elif dialect == "messages":
            async with anthropic_sdk(base_url) as claude:
                await claude.messages.create(**body)
        else:
            gemini = gemini_sdk(base_url)
            try:
                await gemini.aio.models.generate_content(
                    model=MODEL,
                    contents="hi",
                    config=types.GenerateContentConfig(system_instruction=UNLISTED),
                )
            finally:
                await close_gemini(gemini)
    except openai.BadRequestError as exc:
        return exc.status_code, f"{exc.type}/{exc.code}", exc.message
    except anthropic.BadRequestError as exc:
        error = exc.body["error"]  # type: ignore[index]
        return exc.status_code, error["type"], error["message"]
    except genai_errors.ClientError as exc:
        return exc.code, str(exc.status), exc.message or ""
    raise AssertionError(f"{dialect}: the refused request succeeded")


@pytest.mark.parametrize(
    ("dialect", "kind"),
    [
        ("chat", "invalid_request_error/upstream_content_rejected"),
        ("responses", "invalid_request_error/upstream_content_rejected"),
        ("messages", "invalid_request_error"),
        ("gemini", "FAILED_PRECONDITION"),
    ],
)
async def test_a_refusal_outside_the_list_is_a_400_and_cools_nothing(
    filtered: FakeUpstream,
    base_url: str,
    services: Services,
    request_lines: list[dict[str, Any]],
    dialect: str,
    kind: str,
) -> None:
    status, shown, message = await refused(dialect, base_url)
    assert (status, shown) == (400, kind)
    assert "refused this request's system prompt" in message and SETTING in message
    assert UNLISTED not in message
    # The first account and one other, then the client: no cooldown, nothing recorded.
    projects = [r.body["project"] for r in filtered.generate_requests()]
    assert len(projects) == 2 and len(set(projects)) == 2
    assert all(a.enabled and not a.cooldowns for a in services.pool.accounts)
    assert all(not view.cooling for view in services.state.snapshot().accounts)
    line = request_lines[-1]
    assert (line["status"], line["error_type"], line["attempts"]) == (400, CONTENT_REJECTED, 2)


@pytest.mark.parametrize("config_overrides", [{"admin_key": ADMIN}])
async def test_refusals_are_counted_and_listed_without_the_prompt(
    filtered: FakeUpstream,
    client: openai.AsyncOpenAI,
    base_url: str,
    services: Services,
    config_overrides: dict[str, Any],
) -> None:
    for _ in range(2):
        with pytest.raises(openai.BadRequestError):
            await client.chat.completions.create(
                model=MODEL, messages=[{"role": "system", "content": UNLISTED}, *HI]
            )  # type: ignore[arg-type]
    assert await client.chat.completions.create(model=MODEL, messages=HI)  # type: ignore[arg-type]
    metrics = services.metrics.exposition().decode()
    assert f'ag2api_content_rejections_total{{model="{MODEL}"}} 2.0' in metrics
    assert 'ag2api_upstream_retries_total{reason="content"} 2.0' in metrics

    admin = {"Authorization": f"Bearer {ADMIN}"}
    async with httpx.AsyncClient(timeout=30) as http:
        listed = await http.get(base_url + "/admin/content-rejections", headers=admin)
        page = await http.get(base_url + "/admin/api/overview", headers=admin)
    shown = listed.json()["content_rejections"]
    assert shown["total"] == 2 and len(shown["latest"]) == 2
    latest = shown["latest"][0]
    assert (latest["model"], latest["key"], latest["route"]) == (MODEL, "tests", "chat")
    assert latest["time"].startswith("20")
    assert page.status_code == 200 and page.json()["content_rejections"] == shown
    for text in (listed.text, page.text):
        assert "Acme" not in text  # never the prompt


@pytest.mark.parametrize("accounts_spec", [(("rt-one", "proj-alpha-0001"),)])
async def test_with_one_account_the_refusal_is_not_retried(
    filtered: FakeUpstream,
    client: openai.AsyncOpenAI,
    services: Services,
    accounts_spec: tuple[tuple[str, str], ...],
) -> None:
    with pytest.raises(openai.BadRequestError):
        await client.chat.completions.create(
            model=MODEL, messages=[{"role": "system", "content": UNLISTED}, *HI]
        )  # type: ignore[arg-type]
    assert filtered.content_rejections == 1
    assert not services.pool.accounts[0].cooldowns
    assert await client.chat.completions.create(model=MODEL, messages=HI)  # type: ignore[arg-type]


async def test_a_bare_429_on_an_account_known_to_be_out_cools_it(
    fake: FakeUpstream, client: openai.AsyncOpenAI, services: Services
) -> None:
    model = "claude-sonnet-4-5-thinking"
    clock = FakeClock(now=time.time())
    services.pool.clock = clock
    fake.models = bodies.used_up(fake.models, model)
    await services.quota.refresh()  # every account: none left of it
    # Past the reset that check named, the skip is over but the last check still says none left.
    clock.advance(5 * 3600 + 60)
    fake.script(Step(status=429, body=bodies.BARE_RESOURCE_EXHAUSTED))
    assert await client.chat.completions.create(model=model, messages=HI)  # type: ignore[arg-type]
    first = services.pool.accounts[0]
    assert model in first.cooldowns  # a limit after all: cooled, and the next account served
    assert [r.body["project"] for r in fake.generate_requests()] == [
        "proj-alpha-0001",
        "proj-beta-0002",
    ]
