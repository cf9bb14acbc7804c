"""JSON Schema (as OpenAI clients send it) → the subset Gemini function declarations accept.

Local ``$ref``s are inlined, ``allOf`` merged, a ``null`` branch of ``anyOf``/``oneOf`` or of a type
list becomes ``nullable``, and keywords Gemini rejects are dropped (constraints worth keeping as a
hint move into ``description``). Only schema locations are ever cleaned — never replayed call args.
"""

from __future__ import annotations

import copy
from typing import Any

from ag2api.errors import InvalidRequest
from ag2api.translate.typed_args import ArgFix, stringify_enums

_DROP = frozenset(
    {
        "$schema",
        "$id",
        "$defs",
        "definitions",
        "$comment",
        "additionalProperties",
        "strict",
        "propertyNames",
        "patternProperties",
        "if",
        "then",
        "else",
        "not",
        "unevaluatedProperties",
        "dependentSchemas",
        "dependentRequired",
        "contentEncoding",
        "contentMediaType",
        "readOnly",
        "writeOnly",
        "deprecated",
        "examples",
        "default",
        "$anchor",
        "discriminator",
    }
)
_HINTS = (
    "minLength",
    "maxLength",
    "pattern",
    "format",
    "minItems",
    "maxItems",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "minimum",
    "maximum",
    "multipleOf",
    "uniqueItems",
    "minProperties",
    "maxProperties",
)
_MAX_DEPTH = 32
_LISTS = ("allOf", "anyOf", "oneOf", "enum", "required")


def clean_schema(schema: Any, param: str = "schema") -> dict[str, Any]:
    """A cleaned deep copy; an absent or empty schema becomes an empty object schema.

    ``param`` names the schema in errors: a keyword of the wrong type is a 400 naming its path.
    """
    return clean_schema_typed(schema, param)[0]


def clean_schema_typed(schema: Any, param: str = "schema") -> tuple[dict[str, Any], ArgFix | None]:
    """:func:`clean_schema`, and where non-string ``enum``/``const`` members had to become strings
    (the backend takes only strings), so answers can get the typed members back."""
    if schema is None or (isinstance(schema, dict) and not schema):
        return {"type": "object", "properties": {}}, None
    if not isinstance(schema, dict):
        raise InvalidRequest(f"'{param}' must be a JSON Schema object", param=param)
    defs: dict[str, Any] = {}
    for key in ("definitions", "$defs"):
        found = schema.get(key)
        if found is not None and not isinstance(found, dict):
            raise InvalidRequest(f"'{param}.{key}' must be an object", param=f"{param}.{key}")
        defs.update(found or {})
    out = _clean(copy.deepcopy(schema), defs, 0, param)
    return out, stringify_enums(out)


def _resolve(ref: str, defs: dict[str, Any], where: str) -> dict[str, Any]:
    for prefix in ("#/$defs/", "#/definitions/"):
        if ref.startswith(prefix) and ref[len(prefix) :] in defs:
            target = defs[ref[len(prefix) :]]
            if isinstance(target, bool):
                return {}
            if not isinstance(target, dict):
                raise InvalidRequest(
                    f"'{where}' points to a definition that is not a schema", param=where
                )
            return copy.deepcopy(target)
    return {"type": "object", "description": f"(unresolved reference {ref})"}


def _check(node: dict[str, Any], path: str) -> None:
    """A 400 naming the keyword when one the cleaner reads has the wrong type."""

    def bad(key: str, what: str) -> InvalidRequest:
        return InvalidRequest(f"'{path}.{key}' must be {what}", param=f"{path}.{key}")

    for key in _LISTS:
        if key in node and not isinstance(node[key], list):
            raise bad(key, "an array")
    if "required" in node and not all(isinstance(r, str) for r in node["required"]):
        raise bad("required", "an array of strings")
    kind = node.get("type")
    if not (kind is None or isinstance(kind, str)) and not (
        isinstance(kind, list) and all(isinstance(t, str) for t in kind)
    ):
        raise bad("type", "a string or an array of strings")
    if "properties" in node and not isinstance(node["properties"], dict):
        raise bad("properties", "an object")
    if "items" in node and not isinstance(node["items"], dict | bool):
        raise bad("items", "a schema object")
    if "description" in node and not isinstance(node["description"], str):
        raise bad("description", "a string")
    if "nullable" in node and not isinstance(node["nullable"], bool):
        raise bad("nullable", "true or false")


def _clean(node: Any, defs: dict[str, Any], depth: int, path: str) -> dict[str, Any]:
    if isinstance(node, bool):
        node = {}  # a boolean schema: anything (true) — there is no Gemini form for false
    if not isinstance(node, dict):
        raise InvalidRequest(f"'{path}' must be a JSON Schema object", param=path)
    if depth > _MAX_DEPTH:
        return {"type": "object"}
    if "$ref" in node:
        ref = node.pop("$ref")
        if not isinstance(ref, str):
            raise InvalidRequest(f"'{path}.$ref' must be a string", param=f"{path}.$ref")
        merged = _resolve(ref, defs, f"{path}.$ref")
        merged.update({k: v for k, v in node.items() if k not in _DROP})
        node = merged
    _check(node, path)
    if "allOf" in node:
        for i, part in enumerate(node.pop("allOf")):
            part = _clean(part, defs, depth + 1, f"{path}.allOf[{i}]")
            for key, value in part.items():
                if key == "properties":
                    node.setdefault("properties", {}).update(value)
                elif key == "required":
                    node["required"] = sorted({*node.get("required", ()), *value})
                else:
                    node.setdefault(key, value)
    nullable = False
    for key in ("anyOf", "oneOf"):
        if key in node:
            branches = [(i, b) for i, b in enumerate(node.pop(key)) if isinstance(b, dict)]
            non_null = [(i, b) for i, b in branches if b.get("type") != "null"]
            nullable = nullable or len(non_null) < len(branches)
            if len(non_null) == 1:
                i, only = non_null[0]
                for k, v in _clean(only, defs, depth + 1, f"{path}.{key}[{i}]").items():
                    node.setdefault(k, v)
            elif non_null:
                node["anyOf"] = [
                    _clean(b, defs, depth + 1, f"{path}.{key}[{i}]") for i, b in non_null
                ]
    if isinstance(node.get("type"), list):
        types = [t for t in node["type"] if t != "null"]
        nullable = nullable or len(types) < len(node["type"])
        node["type"] = types[0] if types else "string"
    if "const" in node:
        node["enum"] = [node.pop("const")]
    if "enum" in node:
        # Members stay typed here; stringify_enums makes them the strings the backend takes.
        node["enum"] = [v for v in node["enum"] if v is not None]
        node["type"] = "string"
    hints = [f"{k}: {node[k]}" for k in _HINTS if k in node]
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in _DROP or key in _HINTS:
            continue
        if key == "properties":
            out[key] = {
                name: _clean(sub, defs, depth + 1, f"{path}.properties.{name}")
                for name, sub in value.items()
            }
        elif key == "items":
            out[key] = _clean(value, defs, depth + 1, f"{path}.items")
        else:
            out[key] = value
    if hints:
        out["description"] = "; ".join(
            [out["description"], *hints] if out.get("description") else hints
        )
    if nullable:
        out["nullable"] = True
    if out.get("type") == "object" and "properties" in out and "required" in out:
        out["required"] = [r for r in out["required"] if r in out["properties"]]
    if "type" not in out and "anyOf" not in out and "enum" not in out:
        out["type"] = "object" if "properties" in out else "string"
    return out
