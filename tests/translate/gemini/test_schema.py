"""JSON Schema cleaning for Gemini (refs inlined, unsupported keywords dropped or hinted)."""

from __future__ import annotations

from ag2api.translate.gemini.schema import clean_schema


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
