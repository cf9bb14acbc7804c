"""Typed enum members and gateway placeholders undone in answers; schema keywords of the wrong type
and over-deep JSON refused with the param named (pure)."""

from __future__ import annotations

from typing import Any

import pytest

from ag2api.errors import InvalidRequest
from ag2api.translate.gemini.events import read
from ag2api.translate.gemini.schema import clean_schema, clean_schema_typed
from ag2api.translate.input import check_nesting
from ag2api.translate.openai_chat.answer import to_chat_completion
from ag2api.translate.openai_chat.render import ToolCallBuilder
from ag2api.translate.openai_chat.request import translate_chat
from ag2api.translate.openai_chat.stream import ChatStreamTranslator
from ag2api.translate.typed_args import fill_empty_objects, merge, restore

PLACEHOLDER = {"reason": {"type": "string"}}


def test_typed_members_go_up_as_text_and_come_back_typed() -> None:
    schema = {
        "type": "object",
        "$defs": {"Level": {"type": "integer", "enum": [1, 2]}},
        "properties": {
            "level": {"$ref": "#/$defs/Level"},
            "on": {"const": True},
            "tags": {"type": "array", "items": {"enum": [1.5, "x"]}},
            "either": {"anyOf": [{"enum": [3]}, {"type": "string"}]},
            "name": {"enum": ["a"]},
        },
    }
    out, fix = clean_schema_typed(schema)
    assert out["properties"]["level"] == {"type": "string", "enum": ["1", "2"]}
    assert out["properties"]["on"]["enum"] == ["True"]
    assert out["properties"]["tags"]["items"]["enum"] == ["1.5", "x"]
    answer = {"level": "2", "on": "true", "tags": ["1.5", "x"], "either": "3", "name": "a"}
    assert restore(fix, answer) == {
        "level": 2,
        "on": True,
        "tags": [1.5, "x"],
        "either": 3,
        "name": "a",
    }
    # Only-string enums need nothing: no fix at all.
    assert clean_schema_typed({"type": "object", "properties": {"n": {"enum": ["a"]}}})[1] is None


def test_placeholders_are_dropped_only_where_the_gateway_added_them() -> None:
    schema = clean_schema(
        {
            "type": "object",
            "properties": {"reason": {"type": "object"}, "own": {"type": "string"}},
        }
    )
    fix = fill_empty_objects(schema, PLACEHOLDER)
    assert schema["properties"]["reason"]["properties"] == PLACEHOLDER
    value = {"reason": {"reason": "x", "keep": 1}, "own": "y"}
    assert restore(fix, value) == {"reason": {"keep": 1}, "own": "y"}
    top = {"type": "object", "properties": {}}
    top_fix = merge(None, fill_empty_objects(top, PLACEHOLDER))
    assert restore(top_fix, {"reason": "because"}) == {}


@pytest.mark.parametrize(
    ("schema", "param"),
    [
        ({"enum": 5}, "p.enum"),
        ({"definitions": []}, "p.definitions"),
        ({"$ref": 5}, "p.$ref"),
        ({"allOf": {}}, "p.allOf"),
        ({"anyOf": "x"}, "p.anyOf"),
        ({"required": [1]}, "p.required"),
        ({"properties": []}, "p.properties"),
        ({"properties": {"a": 5}}, "p.properties.a"),
        ({"properties": {"a": {"items": [1]}}}, "p.properties.a.items"),
        ({"type": {"a": 1}}, "p.type"),
        ({"description": 5}, "p.description"),
        ({"$defs": {"X": 5}, "$ref": "#/$defs/X"}, "p.$ref"),
        ("string", "p"),
    ],
)
def test_wrong_typed_keywords_name_their_path(schema: Any, param: str) -> None:
    with pytest.raises(InvalidRequest) as info:
        clean_schema(schema, "p")
    assert info.value.param == param


def test_nesting_is_checked_without_recursion() -> None:
    deep: Any = "x"
    for _ in range(50_000):
        deep = [deep]
    with pytest.raises(InvalidRequest) as info:
        check_nesting({"messages": [], "metadata": deep})
    assert info.value.param == "metadata[0][0][0]"
    check_nesting({"a": [[[{"b": 1}]]]})


def body(**extra: Any) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": "hi"}], **extra}


FUNCTIONS = [{"name": "f", "parameters": {"type": "object", "properties": {"n": {"enum": [1]}}}}]


def test_legacy_history_is_replayed_with_paired_ids() -> None:
    history = [
        {"role": "user", "content": "go"},
        {"role": "assistant", "content": None, "function_call": {"name": "f", "arguments": "{}"}},
        {"role": "function", "name": "f", "content": "done"},
    ]
    request, info = translate_chat(
        {"messages": history, "functions": FUNCTIONS}, model="claude-sonnet-4-5", thinking=None
    )
    call = request["contents"][1]["parts"][0]["functionCall"]
    result = request["contents"][2]["parts"][0]["functionResponse"]
    assert (call["name"], call["args"]) == ("f", {})
    assert (result["name"], result["id"]) == ("f", call["id"])
    assert info.legacy_functions and info.tools["f"] is not None


@pytest.mark.parametrize(
    ("extra", "param"),
    [
        ({"functions": FUNCTIONS, "function_call": {"name": ["f"]}}, "function_call.name"),
        ({"functions": FUNCTIONS, "function_call": 5}, "function_call"),
        ({"functions": [5]}, "functions[0]"),
        (
            {"functions": [{"name": "f", "parameters": {"enum": {}}}]},
            "functions[0].parameters.enum",
        ),
    ],
)
def test_legacy_params_of_the_wrong_type(extra: dict[str, Any], param: str) -> None:
    with pytest.raises(InvalidRequest) as info:
        translate_chat(body(**extra), model="gemini-2.5-flash", thinking=None)
    assert info.value.param == param


def answer(parts: list[dict[str, Any]]) -> dict[str, Any]:
    return {"candidates": [{"content": {"parts": parts}, "finishReason": "STOP"}]}


def test_legacy_answer_shapes_stream_and_not() -> None:
    _, info = translate_chat(body(functions=FUNCTIONS), model="gemini-2.5-flash", thinking=None)
    calls = [{"functionCall": {"name": "f", "args": {"n": "1"}}}] * 2
    done = to_chat_completion(
        read(answer(calls)),
        completion_id="c",
        model="m",
        created=0,
        calls=ToolCallBuilder(is_claude=False, info=info),
    )
    choice = done["choices"][0]
    assert choice["finish_reason"] == "function_call"
    assert choice["message"]["function_call"] == {"name": "f", "arguments": '{"n":1}'}
    assert "tool_calls" not in choice["message"]
    stream = ChatStreamTranslator(
        completion_id="c",
        model="m",
        created=0,
        include_usage=False,
        calls=ToolCallBuilder(is_claude=False, info=info),
    )
    chunks = stream.feed(read(answer(calls))) + stream.finish()
    deltas = [c["choices"][0]["delta"] for c in chunks]
    assert [d["function_call"] for d in deltas if "function_call" in d] == [
        {"name": "f", "arguments": '{"n":1}'}
    ]
    assert chunks[-1]["choices"][0]["finish_reason"] == "function_call"


def test_structured_stream_is_held_and_typed_only_when_needed() -> None:
    fmt = {"type": "json_schema", "json_schema": {"name": "x", "schema": {"enum": [1, 2]}}}
    _, info = translate_chat(body(response_format=fmt), model="gemini-2.5-flash", thinking=None)
    stream = ChatStreamTranslator(
        completion_id="c",
        model="m",
        created=0,
        include_usage=False,
        calls=ToolCallBuilder(is_claude=False, info=info),
    )
    assert [c["choices"][0]["delta"] for c in stream.feed(read(answer([{"text": '"'}])))] == [
        {"role": "assistant", "content": ""}
    ]
    stream.feed(read(answer([{"text": '2"'}])))
    closing = stream.finish()
    assert closing[0]["choices"][0]["delta"] == {"content": "2"}
    assert closing[-1]["choices"][0]["finish_reason"] == "stop"
    _, plain = translate_chat(body(), model="gemini-2.5-flash", thinking=None)
    assert plain.content is None and not plain.tools and not plain.legacy_functions
