"""Translation's work stays bounded on the event loop.

A tool schema whose ``$ref``s multiply (definitions that each refer twice to the next) is a 400
naming the schema on every route that takes tools, the token counts included — answered before
any upstream call, with the gateway still serving meanwhile. The bound itself (the work done
stays within the limits whatever the schema asks) is checked on the cleaner
(``tests/translate/gemini/test_schema.py``). Large bodies are translated on a worker thread."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Awaitable, Callable
from typing import Any

import anthropic
import openai
import pytest
from google import genai
from google.genai import errors as genai_errors
from google.genai import types

from ag2api.handlers.generating import TRANSLATE_ON_LOOP_BYTES
from ag2api.testing.fake_upstream import FakeUpstream
from ag2api.translate.openai_chat import dialect as chat_dialect
from tests.support.clients import API_KEY
from tests.support.http import fetch
from tests.support.schemas import ref_bomb

# 17 levels: 260,000 nodes once inlined (seconds of work on the event loop without a bound).
BOMB = ref_bomb(17)
SAY = [{"role": "user", "content": "call bomb"}]


async def chat(client: openai.AsyncOpenAI) -> str | None:
    tool: Any = {"type": "function", "function": {"name": "bomb", "parameters": BOMB}}
    try:
        await client.chat.completions.create(model="gemini-2.5-flash", messages=SAY, tools=[tool])
    except openai.BadRequestError as exc:
        return str(exc.param)
    return None


async def responses(client: openai.AsyncOpenAI) -> str | None:
    tool: Any = {"type": "function", "name": "bomb", "parameters": BOMB}
    try:
        await client.responses.create(model="gemini-2.5-flash", input="call bomb", tools=[tool])
    except openai.BadRequestError as exc:
        return str(exc.param)
    return None


def anthropic_call(count: bool) -> Callable[[anthropic.AsyncAnthropic], Awaitable[str | None]]:
    async def call(client: anthropic.AsyncAnthropic) -> str | None:
        tool: Any = {"name": "bomb", "input_schema": BOMB}
        try:
            if count:
                await client.messages.count_tokens(
                    model="claude-sonnet-4-5", messages=SAY, tools=[tool]
                )
            else:
                await client.messages.create(
                    model="claude-sonnet-4-5", max_tokens=100, messages=SAY, tools=[tool]
                )
        except anthropic.BadRequestError as exc:
            body: Any = exc.body
            return str(body["error"]["message"]).split("'")[1]  # the message names the schema
        return None

    return call


async def gemini_generate(client: genai.Client) -> str | None:
    decl = types.FunctionDeclaration(name="bomb", parameters_json_schema=BOMB)
    config = types.GenerateContentConfig(tools=[types.Tool(function_declarations=[decl])])
    try:
        await client.aio.models.generate_content(
            model="gemini-2.5-flash", contents="call bomb", config=config
        )
    except genai_errors.ClientError as exc:
        assert exc.code == 400 and exc.status == "INVALID_ARGUMENT"
        return google_field(exc.details)
    return None


async def gemini_count(base_url: str) -> str | None:
    """google-genai sends no tools to countTokens outside Vertex: the REST body, as Google
    documents it (``generateContentRequest``)."""
    decl = {"name": "bomb", "parametersJsonSchema": BOMB}
    request = {"contents": [{"role": "user", "parts": [{"text": "call bomb"}]}]}
    body = {"generateContentRequest": {**request, "tools": [{"functionDeclarations": [decl]}]}}
    answer = await fetch(
        base_url + "/v1beta/models/gemini-2.5-flash:countTokens",
        body=body,
        headers={"x-goog-api-key": API_KEY},
    )
    return google_field(json.loads(answer.body)) if answer.code == 400 else None


def google_field(error: Any) -> str:
    details = error["error"]["details"]
    return str(next(v for d in details for v in d.get("fieldViolations", ()))["field"])


async def test_a_ref_bomb_is_a_400_naming_the_schema_on_every_route(
    client: openai.AsyncOpenAI,
    claude: anthropic.AsyncAnthropic,
    gemini: genai.Client,
    base_url: str,
    fake: FakeUpstream,
) -> None:
    health = asyncio.ensure_future(fetch(base_url + "/health"))
    named = await asyncio.gather(
        chat(client),
        responses(client),
        anthropic_call(False)(claude),
        anthropic_call(True)(claude),
        gemini_generate(gemini),
        gemini_count(base_url),
    )
    assert (await health).code == 200
    assert named == [
        "tools[0].function.parameters",
        "tools[0].parameters",
        "tools.0.input_schema",
        "tools.0.input_schema",
        "tools[0].functionDeclarations[0].parametersJsonSchema",
        "tools[0].functionDeclarations[0].parametersJsonSchema",  # inside generateContentRequest
    ]
    # No generation and no count reached the upstream (the model list may have been read).
    assert [r.path for r in fake.requests if "Content" in r.path or "count" in r.path] == []


async def test_large_bodies_are_translated_off_the_event_loop(
    client: openai.AsyncOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Translation work grows with the body: past TRANSLATE_ON_LOOP_BYTES it runs on a worker
    thread, so the loop keeps serving other clients meanwhile."""
    threads: list[threading.Thread] = []
    original = chat_dialect.translate_chat

    def recording(*args: Any, **kwargs: Any) -> Any:
        threads.append(threading.current_thread())
        return original(*args, **kwargs)

    monkeypatch.setattr(chat_dialect, "translate_chat", recording)
    small = [{"role": "user", "content": "hi"}]
    large = [{"role": "user", "content": "word " * (TRANSLATE_ON_LOOP_BYTES // 4)}]
    for messages in (small, large):
        done = await client.chat.completions.create(model="gemini-2.5-flash", messages=messages)
        assert done.choices[0].message.content
    assert threads[0] is threading.main_thread() and threads[1] is not threading.main_thread()
