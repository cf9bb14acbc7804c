"""JSON Schema cleaning for Gemini (refs inlined, unsupported keywords dropped or hinted)."""

from __future__ import annotations

import json

import pytest

from ag2api.errors import InvalidRequest
from ag2api.translate.gemini.schema import (
    MAX_REF_BYTES,
    MAX_REF_USES,
    MAX_SCHEMA_NODES,
    SchemaBudget,
    clean_schema,
)
from tests.support.schemas import ref_bomb


def test_refs_defs_nullable_and_hints() -> None:
    schema = {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "type": "object",
        "$defs": {
            "Address": {
                "type": "object",
                "properties": {"city": {"type": "string", "minLength": 1}},
                "required": ["city"],
                "additionalProperties": False,
            }
        },
        "properties": {
            "home": {"$ref": "#/$defs/Address"},
            "nick": {"anyOf": [{"type": "string"}, {"type": "null"}], "default": None},
            "kind": {"const": "person"},
            "age": {"type": ["integer", "null"], "minimum": 0},
        },
        "required": ["home", "nick", "kind", "age"],
        "additionalProperties": False,
    }
    assert clean_schema(schema) == {
        "type": "object",
        "properties": {
            "home": {
                "type": "object",
                "properties": {"city": {"type": "string", "description": "minLength: 1"}},
                "required": ["city"],
            },
            "nick": {"type": "string", "nullable": True},
            "kind": {"enum": ["person"], "type": "string"},
            "age": {"type": "integer", "description": "minimum: 0", "nullable": True},
        },
        "required": ["home", "nick", "kind", "age"],
    }


def test_missing_schema_is_an_empty_object() -> None:
    assert clean_schema(None) == {"type": "object", "properties": {}}


def test_input_is_not_mutated() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "string", "format": "date"}}}
    clean_schema(schema)
    assert schema == {"type": "object", "properties": {"a": {"type": "string", "format": "date"}}}


def test_a_ref_bomb_is_a_400_after_bounded_work() -> None:
    bomb = ref_bomb(30)
    assert len(json.dumps(bomb, separators=(",", ":"))) < 3000
    budget = SchemaBudget()
    with pytest.raises(InvalidRequest) as info:
        clean_schema(bomb, "tools[0].function.parameters", budget)
    assert info.value.param == "tools[0].function.parameters"
    assert "$ref" in info.value.message
    # The work done is what the limits allow, not what the schema asks for.
    assert budget.nodes <= MAX_SCHEMA_NODES + 1 and budget.refs <= MAX_REF_USES + 1
    assert budget.ref_bytes <= MAX_REF_BYTES + 3000


def test_the_budget_is_the_requests_not_each_schemas() -> None:
    wide = {"type": "object", "properties": {f"p{i}": {"type": "string"} for i in range(999)}}
    budget = SchemaBudget()
    for n in range(MAX_SCHEMA_NODES // 1000):  # each schema alone is far below the limit
        clean_schema(wide, f"tools[{n}].parameters", budget)
    with pytest.raises(InvalidRequest) as info:
        clean_schema(wide, "tools[99].parameters", budget)
    assert info.value.param == "tools[99].parameters"


def test_a_large_definition_counts_its_size_at_each_use() -> None:
    big = {"type": "string", "description": "d" * 100_000}
    schema = {
        "type": "object",
        "properties": {f"p{i}": {"$ref": "#/definitions/Big"} for i in range(30)},
        "definitions": {"Big": big},
    }
    with pytest.raises(InvalidRequest) as info:
        clean_schema(schema, "input_schema")
    assert "bytes" in info.value.message and info.value.param == "input_schema"


def test_recursive_definitions_are_inlined_once() -> None:
    node = {
        "type": "object",
        "properties": {
            "value": {"type": "integer"},
            "left": {"$ref": "#/$defs/Node"},
            "right": {"$ref": "#/$defs/Node"},
        },
    }
    schema = {"$ref": "#/$defs/Node", "$defs": {"Node": node}}
    before = json.dumps(schema)
    out = clean_schema(schema)
    assert out["properties"]["value"] == {"type": "integer"}
    assert out["properties"]["left"] == out["properties"]["right"] == {"type": "object"}
    assert json.dumps(schema) == before  # the definition used three times was never changed
    wrapped = {"properties": {"root": {"$ref": "#/$defs/Node"}}, "$defs": {"Node": node}}
    root = clean_schema(wrapped)["properties"]["root"]
    assert root["properties"]["left"] == {"type": "object"}  # one level, under any property
