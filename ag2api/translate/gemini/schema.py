"""JSON Schema (as OpenAI clients send it) → the subset Gemini function declarations accept.

Local ``$ref``s are inlined (a recursive one once; the request's total is bounded, see
:class:`SchemaBudget`), ``allOf`` merged, a ``null`` branch of ``anyOf``/``oneOf`` or of a type
list becomes ``nullable``, and keywords Gemini rejects are dropped (constraints worth keeping as a
hint move into ``description``). Only schema locations are ever cleaned — never replayed
tool-call args.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ag2api.errors import InvalidRequest
from ag2api.jsoncodec import dumps_bytes
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

# What the schemas of one request may produce, all together. Inlining ``$ref``s multiplies work
# (definitions that each refer twice to the next, thirty deep, are a billion nodes in 2.5 KB), so
# the cleaner counts what it makes: every schema node, every ``$ref`` inlined, and the size of
# each inlined definition (what it adds to the upstream request). An agent's tools make a few
# hundred nodes; over a limit is a 400 naming the schema, so the work on the event loop stays
# bounded (20,000 nodes: about a tenth of a second).
MAX_SCHEMA_NODES = 20_000
MAX_REF_USES = 2_000
MAX_REF_BYTES = 2 * 1024 * 1024


@dataclass
class SchemaBudget:
    """What the schemas of one request have produced so far, against the limits above. One per
    request, shared by all its schemas (tools, structured output); a schema cleaned without one
    gets its own."""

    nodes: int = 0
    refs: int = 0
    ref_bytes: int = 0
    max_nodes: int = MAX_SCHEMA_NODES
    max_refs: int = MAX_REF_USES
    max_ref_bytes: int = MAX_REF_BYTES

    def node(self, param: str) -> None:
        self.nodes += 1
        if self.nodes > self.max_nodes:
            raise _too_big(param, f"more than {self.max_nodes} schema nodes")

    def ref(self, param: str, size: int) -> None:
        self.refs += 1
        self.ref_bytes += size
        if self.refs > self.max_refs:
            raise _too_big(param, f"more than {self.max_refs} $ref uses")
        if self.ref_bytes > self.max_ref_bytes:
            raise _too_big(param, f"more than {self.max_ref_bytes} bytes of inlined definitions")


def _too_big(param: str, what: str) -> InvalidRequest:
    return InvalidRequest(
        f"'{param}' expands to {what} (the request's schemas together; $ref definitions count "
        "at each use): reduce or flatten the schemas",
        param=param,
    )


def clean_schema(
    schema: Any, param: str = "schema", budget: SchemaBudget | None = None
) -> dict[str, Any]:
    """A cleaned copy (the input is never changed); an absent or empty schema becomes an empty
    object schema.

    ``param`` names the schema in errors: a keyword of the wrong type is a 400 naming its path, and
    so is a schema that would expand past ``budget`` (the request's, see :class:`SchemaBudget`).
    """
    return clean_schema_typed(schema, param, budget)[0]


def clean_schema_typed(
    schema: Any, param: str = "schema", budget: SchemaBudget | None = None
) -> tuple[dict[str, Any], ArgFix | None]:
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
    cleaning = _Cleaning(defs, param, budget if budget is not None else SchemaBudget())
    out = cleaning.clean(schema, 0, param, ())
    return out, stringify_enums(out)


@dataclass
class _Cleaning:
    """One schema being cleaned: its definitions, and the request's budget."""

    defs: dict[str, Any]
    param: str  # the schema as a whole, named when the budget runs out
    budget: SchemaBudget
    sizes: dict[str, int] = field(default_factory=dict)  # definition → its JSON size

    def resolve(self, ref: str, where: str, chain: tuple[str, ...]) -> tuple[dict[str, Any], str]:
        """The definition ``ref`` names (never changed: the caller copies what it edits) and its
        name; a reference to a definition already being inlined above (recursion) stops there."""
        for prefix in ("#/$defs/", "#/definitions/"):
            name = ref[len(prefix) :]
            if ref.startswith(prefix) and name in self.defs:
                if name in chain:
                    return {"type": "object"}, name
                target = self.defs[name]
                if isinstance(target, bool):
                    return {}, name
                if not isinstance(target, dict):
                    raise InvalidRequest(
                        f"'{where}' points to a definition that is not a schema", param=where
                    )
                if name not in self.sizes:
                    self.sizes[name] = len(dumps_bytes(target))
                self.budget.ref(self.param, self.sizes[name])
                return target, name
        return {"type": "object", "description": f"(unresolved reference {ref})"}, ""

    def clean(self, node: Any, depth: int, path: str, chain: tuple[str, ...]) -> dict[str, Any]:
        if isinstance(node, bool):
            node = {}  # a boolean schema: anything (true) — there is no Gemini form for false
        if not isinstance(node, dict):
            raise InvalidRequest(f"'{path}' must be a JSON Schema object", param=path)
        self.budget.node(self.param)
        if depth > _MAX_DEPTH:
            return {"type": "object"}
        node = dict(node)  # edited below: the client's schema (and a definition) stays as it is
        if "$ref" in node:
            ref = node.pop("$ref")
            if not isinstance(ref, str):
                raise InvalidRequest(f"'{path}.$ref' must be a string", param=f"{path}.$ref")
            target, name = self.resolve(ref, f"{path}.$ref", chain)
            if name and name not in chain:
                chain = (*chain, name)
            merged = dict(target)
            merged.update({k: v for k, v in node.items() if k not in _DROP})
            node = merged
        _check(node, path)
        if "allOf" in node:
            for i, part in enumerate(node.pop("allOf")):
                part = self.clean(part, depth + 1, f"{path}.allOf[{i}]", chain)
                for key, value in part.items():
                    if key == "properties":
                        node["properties"] = {**(node.get("properties") or {}), **value}
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
                    for k, v in self.clean(only, depth + 1, f"{path}.{key}[{i}]", chain).items():
                        node.setdefault(k, v)
                elif non_null:
                    node["anyOf"] = [
                        self.clean(b, depth + 1, f"{path}.{key}[{i}]", chain) for i, b in non_null
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
                    name: self.clean(sub, depth + 1, f"{path}.properties.{name}", chain)
                    for name, sub in value.items()
                }
            elif key == "items":
                out[key] = self.clean(value, depth + 1, f"{path}.items", chain)
            else:
                out[key] = list(value) if isinstance(value, list) else value
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
