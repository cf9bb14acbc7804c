"""Wrong-typed input never gives a 5xx.

A table of every documented field of ``/v1/chat/completions`` and ``/v1/images/generations`` (and
the JSON-Schema keywords a tool or ``response_format`` schema may carry) is fed null, numbers,
strings, lists, objects, booleans and deep nesting. Each answer must be a 200 (the value is
legitimately ignored) or a 400 whose ``param`` names a field — never a 5xx, never an in-stream
``server_error``. Requests go out in concurrent batches over loopback, so the table runs fast.
"""

from __future__ import annotations

import asyncio
import copy
import json
from typing import Any

import pytest
from tornado.httpclient import AsyncHTTPClient

from tests.support.clients import API_KEY
from tests.support.http import fetch


def nest(depth: int) -> Any:
    value: Any = "bottom"
    for i in range(depth):
        value = [value] if i % 2 else {"k": value}
    return value


DEEP = nest(300)
WRONG: list[Any] = [None, 5, "x", [], [5], {}, {"a": 5}, True, DEEP]
# Schema keywords, legacy fields and image fields: the basic wrong types (deep nesting is refused
# for the whole body at once, and tried on every top-level field and message path).
BASIC = WRONG[:6]

SCHEMA = {
    "type": "object",
    "properties": {
        "city": {"type": "string", "description": "a city"},
        "count": {"type": "integer", "enum": [1, 2, 3]},
        "tags": {"type": "array", "items": {"type": "string"}},
    },
    "required": ["city"],
}
CALL = {
    "id": "call_abc",
    "type": "function",
    "function": {"name": "get_weather", "arguments": "{}"},
}
CHAT: dict[str, Any] = {
    "model": "gemini-2.5-flash",
    "messages": [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": [{"type": "text", "text": "use get_weather"}], "name": "u"},
        {"role": "assistant", "content": None, "tool_calls": [CALL]},
        {"role": "tool", "tool_call_id": "call_abc", "content": '{"t": 1}'},
        {"role": "user", "content": "and again"},
    ],
    "tools": [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "weather",
                "parameters": SCHEMA,
                "strict": False,
            },
        }
    ],
    "tool_choice": "auto",
}
LEGACY: dict[str, Any] = {
    "model": "gemini-2.5-flash",
    "messages": [
        {"role": "user", "content": "use get_weather"},
        {
            "role": "assistant",
            "content": None,
            "function_call": {"name": "get_weather", "arguments": "{}"},
        },
        {"role": "function", "name": "get_weather", "content": "18C"},
    ],
    "functions": [{"name": "get_weather", "parameters": SCHEMA}],
    "function_call": {"name": "get_weather"},
}
CLAUDE = "claude-sonnet-4-5"
IMAGES: dict[str, Any] = {
    "model": "gemini-3-pro-image",
    "prompt": "a cat",
    "n": 1,
    "size": "1024x1024",
}

# Top-level chat fields, set to each wrong value.
CHAT_FIELDS = [
    "model", "messages", "stream", "stream_options", "temperature", "top_p", "top_k", "n",
    "max_tokens", "max_completion_tokens", "stop", "seed", "presence_penalty",
    "frequency_penalty", "logit_bias", "logprobs", "top_logprobs", "user", "metadata",
    "modalities", "audio", "reasoning_effort", "reasoning", "parallel_tool_calls",
    "response_format", "tools", "tool_choice", "functions", "function_call", "store",
    "service_tier", "prediction", "web_search_options", "prompt_cache_key", "safety_identifier",
    "verbosity", "size", "quality", "image_config",
]  # fmt: skip
# Paths inside the chat body (keys and list indexes).
CALL0 = ("messages", 2, "tool_calls", 0)
CHAT_PATHS: list[tuple[Any, ...]] = [
    ("messages", 0), ("messages", 0, "role"), ("messages", 0, "content"),
    ("messages", 1, "content"), ("messages", 1, "content", 0),
    ("messages", 1, "content", 0, "type"), ("messages", 1, "content", 0, "text"),
    ("messages", 1, "name"), ("messages", 2, "content"), ("messages", 2, "tool_calls"), CALL0,
    (*CALL0, "id"), (*CALL0, "type"), (*CALL0, "function"), (*CALL0, "function", "name"),
    (*CALL0, "function", "arguments"), ("messages", 2, "function_call"),
    ("messages", 2, "reasoning_content"), ("messages", 2, "refusal"),
    ("messages", 3, "tool_call_id"), ("messages", 3, "content"), ("messages", 3, "name"),
    ("tools", 0), ("tools", 0, "type"), ("tools", 0, "function"), ("tools", 0, "function", "name"),
    ("tools", 0, "function", "description"), ("tools", 0, "function", "parameters"),
    ("tools", 0, "function", "strict"),
]  # fmt: skip
SCHEMA_KEYS = [
    "type", "properties", "items", "required", "enum", "const", "allOf", "anyOf", "oneOf", "$ref",
    "$defs", "definitions", "description", "nullable", "format", "minimum", "additionalProperties",
]  # fmt: skip
LEGACY_PATHS: list[tuple[Any, ...]] = [
    ("functions",), ("functions", 0), ("functions", 0, "name"), ("functions", 0, "parameters"),
    ("function_call",), ("function_call", "name"), ("messages", 1, "function_call"),
    ("messages", 1, "function_call", "name"), ("messages", 1, "function_call", "arguments"),
    ("messages", 2, "name"), ("messages", 2, "content"),
]  # fmt: skip
IMAGE_FIELDS = [
    "model",
    "prompt",
    "n",
    "size",
    "quality",
    "response_format",
    "image_config",
    "user",
    "style",
]
CHOICES: list[Any] = [
    {"type": "function", "function": {"name": []}},
    {"type": "function", "function": {"name": {}}},
    {"type": "function", "function": []},
    {"type": "function"},
    {"type": "allowed_tools"},
    {"function": {"name": "get_weather"}},
]
FORMATS: list[Any] = [
    {
        "type": "json_schema",
        "json_schema": {"name": "x", "schema": {"type": "object", "properties": []}},
    },
    {"type": "json_schema", "json_schema": {"name": "x", "schema": {"enum": 5}}},
    {"type": "json_schema", "json_schema": {"name": "x", "schema": {"$ref": 5}}},
    {"type": "json_schema", "json_schema": {"name": "x", "schema": DEEP}},
    {"type": "json_schema", "json_schema": []},
    {"type": "json_schema", "json_schema": {"schema": 5}},
    {"type": []},
]


def put(body: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    """A copy of ``body`` with ``value`` at ``path`` (only the containers on the path are copied;
    the rest is shared, never mutated, only serialised)."""
    out = copy.copy(body)
    node: Any = out
    for key in path[:-1]:
        node[key] = copy.copy(node[key])
        node = node[key]
    node[path[-1]] = value
    return out


def cases() -> list[tuple[str, str, dict[str, Any]]]:
    """(route, label, body) for every wrong value in every field."""
    out: list[tuple[str, str, dict[str, Any]]] = []
    chat = "/v1/chat/completions"
    for value in WRONG:
        for field in CHAT_FIELDS:
            out.append((chat, f"{field}={value!r:.30}", put(CHAT, (field,), value)))
        for path in CHAT_PATHS:
            out.append((chat, f"{path}={value!r:.30}", put(CHAT, path, value)))
    for value in BASIC:
        for path in LEGACY_PATHS:
            out.append((chat, f"legacy {path}={value!r:.30}", put(LEGACY, path, value)))
        for key in SCHEMA_KEYS:
            # Tool schemas at the top and nested (Claude gets placeholders: both models), and
            # the structured-output schema (the same cleaner) at the top.
            for where, model in (((), CLAUDE), (("properties", "city"), "gemini-2.5-flash")):
                path = ("tools", 0, "function", "parameters", *where, key)
                body = put(put(CHAT, path, value), ("model",), model)
                out.append((chat, f"{model} {path}={value!r:.30}", body))
            fmt = {"type": "json_schema", "json_schema": {"name": "x", "schema": SCHEMA}}
            fpath = ("response_format", "json_schema", "schema", key)
            body = put(CHAT, ("response_format",), fmt)
            out.append((chat, f"{fpath}={value!r:.30}", put(body, fpath, value)))
        for field in IMAGE_FIELDS:
            out.append(
                ("/v1/images/generations", f"{field}={value!r:.30}", put(IMAGES, (field,), value))
            )
    for choice in CHOICES:
        out.append((chat, f"tool_choice={choice!r:.40}", put(CHAT, ("tool_choice",), choice)))
    for fmt in FORMATS:
        out.append((chat, f"response_format={fmt!r:.60}", put(CHAT, ("response_format",), fmt)))
    for model in ("gemini-2.5-flash", "claude-sonnet-4-5"):
        deep_text = json.dumps(nest(300))
        out.append(
            (
                chat,
                f"{model} deep tool content",
                put(put(CHAT, ("messages", 3, "content"), deep_text), ("model",), model),
            )
        )
        args_path = ("messages", 2, "tool_calls", 0, "function", "arguments")
        out.append(
            (
                chat,
                f"{model} deep arguments",
                put(put(CHAT, args_path, deep_text), ("model",), model),
            )
        )
        for deep in (nest(240), nest(600)):
            out.append(
                (
                    chat,
                    f"{model} deep metadata",
                    put(put(CHAT, ("metadata",), deep), ("model",), model),
                )
            )
    return out


async def send(
    url: str, body: dict[str, Any], stream: bool, client: AsyncHTTPClient | None = None
) -> tuple[int, str]:
    payload = {**body, "stream": stream} if "messages" in body and "stream" not in body else body
    response = await fetch(url, body=payload, key=API_KEY, http=client)
    return response.code, (response.body or b"").decode("utf-8", "replace")


def problem(label: str, code: int, text: str) -> str | None:
    """What is wrong with one answer (None when it is fine)."""
    if code >= 500 or code == 599:
        return f"{label}: HTTP {code} {text[:200]}"
    if code == 200:
        if "server_error" in text or "internal_error" in text:
            return f"{label}: in-stream error {text[-300:]}"
        return None
    if code != 400:
        return None if code == 404 and "model" in label else f"{label}: HTTP {code} {text[:200]}"
    error = json.loads(text)["error"]
    if not isinstance(error.get("param"), str) or not error["param"]:
        return f"{label}: 400 without a param: {error}"
    return None


@pytest.mark.parametrize("stream", [False, True], ids=["nonstream", "stream"])
async def test_wrong_types_in_every_field_never_give_5xx(base_url: str, stream: bool) -> None:
    table = cases()
    assert len(table) > 900
    if stream:  # what fails before the stream starts was seen above: keep the chat bodies
        table = [case for case in table[::4] if case[0] == "/v1/chat/completions"]
    problems: list[str] = []
    client = AsyncHTTPClient(force_instance=True, max_clients=64)
    for start in range(0, len(table), 64):
        batch = table[start : start + 64]
        answers = await asyncio.gather(
            *(send(base_url + route, body, stream, client) for route, _, body in batch)
        )
        for (_, label, _), (code, text) in zip(batch, answers, strict=True):
            if (found := problem(label, code, text)) is not None:
                problems.append(found)
    client.close()
    assert problems == [], "\n".join(problems[:40]) + f"\n({len(problems)} in all)"


PARAMS = ("tools", 0, "function", "parameters")
P = "tools[0].function.parameters"
ARGS = ("messages", 2, "tool_calls", 0, "function", "arguments")
GEMINI = "gemini-2.5-flash"
KNOWN = [
    (PARAMS, {"enum": 5}, GEMINI, f"{P}.enum"),
    ((*PARAMS, "definitions"), [], GEMINI, f"{P}.definitions"),
    ((*PARAMS, "$ref"), 5, GEMINI, f"{P}.$ref"),
    ((*PARAMS, "allOf"), 5, GEMINI, f"{P}.allOf"),
    ((*PARAMS, "anyOf"), {}, GEMINI, f"{P}.anyOf"),
    ((*PARAMS, "required"), 5, GEMINI, f"{P}.required"),
    ((*PARAMS, "properties"), [], CLAUDE, f"{P}.properties"),
    ((*PARAMS, "properties", "city", "enum"), "abc", GEMINI, f"{P}.properties.city.enum"),
    (("tool_choice",), {"type": "function", "function": {"name": []}}, GEMINI, "tool_choice"),
    (("metadata",), nest(300), GEMINI, "metadata"),
    (("messages", 3, "content"), json.dumps(nest(300)), GEMINI, "messages[3].content"),
    (ARGS, json.dumps(nest(300)), GEMINI, "messages[2].tool_calls[0].function.arguments"),
]


@pytest.mark.parametrize(("path", "value", "model", "param"), KNOWN)
async def test_known_500s_are_400s_naming_the_param(
    base_url: str, path: tuple[Any, ...], value: Any, model: str, param: str
) -> None:
    body = put(put(CHAT, path, value), ("model",), model)
    code, text = await send(base_url + "/v1/chat/completions", body, False)
    assert code == 400, text
    assert json.loads(text)["error"]["param"].startswith(param), text  # the field, maybe deeper


@pytest.mark.parametrize("size", [[], {}, 5, True])
async def test_image_size_of_the_wrong_type_is_a_400(base_url: str, size: Any) -> None:
    code, text = await send(base_url + "/v1/images/generations", {**IMAGES, "size": size}, False)
    assert code == 400, text
    assert json.loads(text)["error"]["param"] == "size"
