"""JSON Schema (as OpenAI clients send it) → the subset Gemini function declarations accept.

Local ``$ref``s are inlined, ``allOf`` merged, a ``null`` branch of ``anyOf``/``oneOf`` or of a type
list becomes ``nullable``, and keywords Gemini rejects are dropped (constraints worth keeping as a
hint move into ``description``). Only schema locations are ever cleaned — never replayed call args.
"""

from __future__ import annotations

import copy
from typing import Any

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


def clean_schema(schema: Any) -> dict[str, Any]:
    """A cleaned deep copy; an absent or empty schema becomes an empty object schema."""
    if not isinstance(schema, dict) or not schema:
        return {"type": "object", "properties": {}}
    defs = {**schema.get("definitions", {}), **schema.get("$defs", {})}
    out = _clean(copy.deepcopy(schema), defs, 0)
    return out if isinstance(out, dict) else {"type": "object", "properties": {}}


def _resolve(ref: str, defs: dict[str, Any]) -> dict[str, Any]:
    for prefix in ("#/$defs/", "#/definitions/"):
        if ref.startswith(prefix) and ref[len(prefix) :] in defs:
            return copy.deepcopy(defs[ref[len(prefix) :]])
    return {"type": "object", "description": f"(unresolved reference {ref})"}


def _clean(node: Any, defs: dict[str, Any], depth: int) -> Any:
    if not isinstance(node, dict):
        return node
    if depth > _MAX_DEPTH:
        return {"type": "object"}
    if "$ref" in node:
        merged = _resolve(node.pop("$ref"), defs)
        merged.update({k: v for k, v in node.items() if k not in _DROP})
        node = merged
    if "allOf" in node:
        for part in node.pop("allOf") or ():
            part = _clean(part, defs, depth + 1)
            if isinstance(part, dict):
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
            branches = [b for b in node.pop(key) or () if isinstance(b, dict)]
            non_null = [b for b in branches if b.get("type") != "null"]
            nullable = nullable or len(non_null) < len(branches)
            if len(non_null) == 1:
                for k, v in _clean(non_null[0], defs, depth + 1).items():
                    node.setdefault(k, v)
            elif non_null:
                node["anyOf"] = [_clean(b, defs, depth + 1) for b in non_null]
    if isinstance(node.get("type"), list):
        types = [t for t in node["type"] if t != "null"]
        nullable = nullable or len(types) < len(node["type"])
        node["type"] = types[0] if types else "string"
    if "const" in node:
        node["enum"] = [node.pop("const")]
    if "enum" in node:
        # The backend takes enum members only as strings.
        node["enum"] = [str(v) for v in node["enum"] if v is not None]
        node["type"] = "string"
    hints = [f"{k}: {node[k]}" for k in _HINTS if k in node]
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in _DROP or key in _HINTS:
            continue
        if key == "properties" and isinstance(value, dict):
            out[key] = {name: _clean(sub, defs, depth + 1) for name, sub in value.items()}
        elif key == "items" and isinstance(value, dict):
            out[key] = _clean(value, defs, depth + 1)
        elif key == "anyOf":
            out[key] = value
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
