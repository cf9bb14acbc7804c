"""Every dialect's request reader, fed wrong types at every path of realistic bodies.

A hand-written mutator walks each body (every object key and array index, nested) and puts
each of a few wrong-typed values there. Each mutant goes through what the handler does before
the upstream call — ``read``, the stored-state expansion, the remote-image scan, ``translate``
and the token-count body — and, when that accepts it, through what happens after the call: the
fake model's answer fed to the dialect's answer (stream and whole) and the stored-state keep.

A mutant must be accepted (the value is legitimately ignored) or refused with a 400 before the
call; nothing may raise anything else, and nothing may fail once the upstream has answered
(that would be a 500, or a ``response.failed``, after the call was made and billed).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from ag2api import jsoncodec
from ag2api.errors import GatewayError
from ag2api.testing import fake_model
from ag2api.translate import DIALECTS
from ag2api.translate.dialect import Dialect, RouteInfo, TranslationContext
from ag2api.translate.gemini.events import Reply
from ag2api.translate.openai_responses.dialect import OPENAI_RESPONSES_COMPACT

MISSING = object()  # the key taken out
WRONG: tuple[Any, ...] = (MISSING, None, 7, -1, 2.5, True, "x", "", ["x"], [{}], {"x": 1}, {})
MODELS = ("gemini-2.5-flash", "claude-sonnet-4-5-thinking")

# Each keyword of a schema is tried on its own elsewhere (tests/handlers/test_bad_input.py):
# here the schemas are small, the tool's with the keywords the cleaner reads.
SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "city": {"type": ["string", "null"], "enum": ["Paris", "Rome", None]},
        "tags": {"type": "array", "items": {"$ref": "#/$defs/Tag"}},
    },
    "required": ["city"],
    "$defs": {"Tag": {"anyOf": [{"const": 1}, {"type": "null"}]}},
}
SHAPE: dict[str, Any] = {"type": "object", "properties": {"t": {"type": "string"}}}
IMAGE = "data:image/png;base64," + fake_model.PNG_B64

CHAT: dict[str, Any] = {
    "model": "m",
    "messages": [
        {"role": "system", "content": "be brief"},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "use get_weather"},
                {"type": "image_url", "image_url": {"url": IMAGE, "detail": "low"}},
            ],
            "name": "u",
        },
        {
            "role": "assistant",
            "content": "ok",
            "reasoning_content": "hm",
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": [{"type": "text", "text": "18C"}]},
        {"role": "user", "content": "and get_weather again"},
    ],
    "tools": [
        {
            "type": "function",
            "function": {"name": "get_weather", "description": "weather", "parameters": SCHEMA},
        }
    ],
    "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
    "response_format": {"type": "json_schema", "json_schema": {"name": "w", "schema": SHAPE}},
    "max_completion_tokens": 500,
    "temperature": 0.5,
    "stop": ["END"],
    "reasoning_effort": "low",
    "stream_options": {"include_usage": True},
    "parallel_tool_calls": False,
    "metadata": {"k": "v"},
}

RESPONSES: dict[str, Any] = {
    "model": "m",
    "instructions": "be brief",
    "input": [
        {"type": "message", "role": "developer", "content": "rules"},
        {
            "type": "message",
            "role": "user",
            "content": [
                {"type": "input_text", "text": "use get_weather and apply_patch"},
                {"type": "input_image", "image_url": IMAGE},
                {"type": "input_file", "filename": "a.txt", "file_data": "aGk="},
            ],
        },
        {"type": "item_reference", "id": "msg_old"},
        {"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": "opaque"},
        {
            "type": "function_call",
            "id": "fc_1",
            "call_id": "c1",
            "name": "get_weather",
            "arguments": '{"city": "Rome"}',
        },
        {"type": "function_call_output", "id": "fco_1", "call_id": "c1", "output": "18C"},
        {"type": "custom_tool_call", "call_id": "c2", "name": "apply_patch", "input": "*** x"},
        {
            "type": "custom_tool_call_output",
            "call_id": "c2",
            "output": [{"type": "input_text", "text": "done"}],
        },
        {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "k"}]},
        {"role": "user", "content": "again"},
    ],
    "tools": [
        {"type": "function", "name": "get_weather", "description": "w", "parameters": SCHEMA},
        {"type": "custom", "name": "apply_patch", "format": {"type": "grammar", "syntax": "lark"}},
        {"type": "namespace", "name": "mcp", "tools": [{"type": "function", "name": "f"}]},
        {"type": "web_search"},
    ],
    "tool_choice": "auto",
    "parallel_tool_calls": True,
    "reasoning": {"effort": "medium", "summary": "auto"},
    "text": {"verbosity": "low", "format": {"type": "json_schema", "name": "w", "schema": SHAPE}},
    "max_output_tokens": 800,
    "temperature": 1,
    "store": True,
    "include": ["reasoning.encrypted_content"],
    "prompt_cache_key": "pck",
    "previous_response_id": "resp_old",
    "metadata": {"k": "v"},
}
# What the store holds for ``previous_response_id`` (trusted: the gateway wrote it).
STORED: dict[str, Any] = {
    "response": {
        "id": "resp_old",
        "output": [
            {
                "type": "message",
                "id": "msg_old",
                "role": "assistant",
                "content": [{"type": "output_text", "text": "earlier"}],
            }
        ],
    },
    "input": [{"type": "message", "id": "msg_in", "role": "user", "content": "first"}],
}

MESSAGES: dict[str, Any] = {
    "model": "m",
    "max_tokens": 1024,
    "system": [{"type": "text", "text": "be brief", "cache_control": {"type": "ephemeral"}}],
    "messages": [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "use get_weather"},
                {
                    "type": "image",
                    "source": {"type": "base64", "media_type": "image/png", "data": "iVBO"},
                },
                {"type": "document", "source": {"type": "text", "data": "doc"}},
            ],
        },
        {"role": "system", "content": "mid-conversation note"},
        {
            "role": "assistant",
            "content": [
                {"type": "thinking", "thinking": "hm", "signature": "ag2:claude:sig"},
                {"type": "redacted_thinking", "data": "opaque"},
                {"type": "text", "text": "ok"},
                {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"c": 1}},
            ],
        },
        {
            "role": "user",
            "content": [
                {
                    "type": "tool_result",
                    "tool_use_id": "toolu_1",
                    "content": [{"type": "text", "text": "18C"}],
                    "is_error": False,
                },
                {"type": "text", "text": "and get_weather again"},
            ],
        },
    ],
    "tools": [{"name": "get_weather", "description": "w", "input_schema": SCHEMA}],
    "tool_choice": {"type": "auto"},
    "thinking": {"type": "enabled", "budget_tokens": 2048},
    "output_config": {"effort": "medium"},
    "stop_sequences": ["END"],
    "temperature": 1,
    "metadata": {"user_id": "u"},
}

GEMINI: dict[str, Any] = {
    "contents": [
        {
            "role": "user",
            "parts": [
                {"text": "use get_weather"},
                {"inlineData": {"mimeType": "image/png", "data": "iVBO"}},
                {"fileData": {"mimeType": "application/pdf", "fileUri": "gs://b/a.pdf"}},
            ],
        },
        {
            "role": "model",
            "parts": [
                {"text": "hm", "thought": True},
                {"text": "", "thoughtSignature": "c2ln"},
                {"functionCall": {"id": "f1", "name": "get_weather", "args": {"city": "Paris"}}},
            ],
        },
        {
            "role": "user",
            "parts": [
                {"functionResponse": {"id": "f1", "name": "get_weather", "response": {"t": 18}}}
            ],
        },
        {"role": "user", "parts": [{"text": "get_weather again"}]},
    ],
    "systemInstruction": {"role": "user", "parts": [{"text": "be brief"}]},
    "tools": [
        {
            "functionDeclarations": [
                {"name": "get_weather", "description": "w", "parametersJsonSchema": SCHEMA}
            ]
        },
        {"googleSearch": {}},
    ],
    "toolConfig": {"functionCallingConfig": {"mode": "AUTO", "allowedFunctionNames": ["x"]}},
    "generationConfig": {
        "temperature": 1,
        "topP": 0.95,
        "topK": 64,
        "maxOutputTokens": 900,
        "stopSequences": ["END"],
        "thinkingConfig": {"includeThoughts": True, "thinkingBudget": 1024},
        "responseMimeType": "application/json",
        "responseJsonSchema": SHAPE,
    },
    "safetySettings": [{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_NONE"}],
}

BY_NAME = {d.name: d for d in (*DIALECTS, OPENAI_RESPONSES_COMPACT)}
CASES: list[tuple[Dialect, dict[str, Any], tuple[str, ...]]] = [
    (BY_NAME["chat"], CHAT, ()),
    (BY_NAME["responses"], RESPONSES, ()),
    (BY_NAME["responses_compact"], {**RESPONSES, "text": None}, ()),
    (BY_NAME["messages"], MESSAGES, ()),
    (BY_NAME["gemini"], GEMINI, ("m", "streamGenerateContent")),
]


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every key and index path inside ``value`` (depth first)."""
    items: Any = value.items() if isinstance(value, dict) else enumerate(value)
    for key, sub in items:
        yield (*prefix, key)
        if isinstance(sub, dict | list) and sub:
            yield from paths(sub, (*prefix, key))


def fresh(body: dict[str, Any]) -> dict[str, Any]:
    """A deep copy (translation may change the body it is given)."""
    copied: dict[str, Any] = jsoncodec.loads(jsoncodec.dumps_bytes(body))
    return copied


def mutants(body: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    raw = jsoncodec.dumps_bytes(body)
    for path in paths(body):
        for wrong in WRONG:
            out = jsoncodec.loads(raw)
            node: Any = out
            for key in path[:-1]:
                node = node[key]
            if wrong is MISSING:
                del node[path[-1]]
            else:
                node[path[-1]] = wrong
            yield f"{'.'.join(map(str, path))}={wrong!r}", out


def refused(exc: GatewayError) -> bool:
    return exc.status == 400


def run(dialect: Dialect, body: dict[str, Any], path_args: tuple[str, ...], model: str) -> bool:
    """Whether the body is accepted (False: refused with a 4xx before the call); raises when the
    gateway would answer it with a 5xx or fail after the call."""
    try:
        dialect.read(body, RouteInfo(False, path_args))
        if dialect.memory is not None:
            ref = dialect.memory.recall(body)
            body = dialect.memory.expand(body, fresh(STORED) if ref == "resp_old" else None)
        dialect.remote_images(body)
        if dialect.count is not None:
            dialect.count.model(body, path_args)
            dialect.count.request(fresh(body), model)
        ctx = TranslationContext("m", model, None, lambda _id: None, 0)
        translation = dialect.translate(body, ctx)
        whole = dialect.translate(fresh(body), ctx).answer
    except GatewayError as exc:
        if not refused(exc):
            raise
        return False
    # The upstream answered: nothing may fail from here on.
    request = translation.request
    issued: set[str] = set()
    events = fake_model.events(
        model, request, fake_model.answer(model, request, None, issued), issued
    )
    answer = translation.answer
    for event in events:
        answer.feed(Reply(fresh(event["response"])))
    answer.finish()
    answer.usage()
    answer.thinking_records()
    whole.whole(Reply(fake_model.merge(events)["response"]))
    if dialect.memory is not None:
        dialect.memory.keep(body, answer)
    return True


@pytest.mark.parametrize(("dialect", "body", "path_args"), CASES, ids=[c[0].name for c in CASES])
def test_the_realistic_bodies_are_accepted(
    dialect: Dialect, body: dict[str, Any], path_args: tuple[str, ...]
) -> None:
    for model in MODELS:
        assert run(dialect, fresh(body), path_args, model)


@pytest.mark.parametrize(("dialect", "body", "path_args"), CASES, ids=[c[0].name for c in CASES])
def test_wrong_types_anywhere_are_a_400_before_the_call(
    dialect: Dialect, body: dict[str, Any], path_args: tuple[str, ...]
) -> None:
    problems: list[str] = []
    for label, mutant in mutants(body):
        for model in MODELS:
            try:
                run(dialect, mutant, path_args, model)
            except Exception as exc:  # every escape is a finding
                problems.append(f"{model} {label}: {type(exc).__name__}: {exc}"[:300])
    assert not problems, "\n".join(problems[:60]) + f"\n({len(problems)} in all)"
