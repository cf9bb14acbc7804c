"""Give the client back the values its schema declares, whatever the upstream schema had to be.

Gemini's schema takes ``enum`` members only as strings, so ``Literal[1, 2]`` goes upstream as
``["1", "2"]`` and comes back as ``"1"``; Claude's VALIDATED mode needs properties on every object,
so the gateway adds a placeholder the client never declared. While a schema is adapted for the
upstream, an :class:`ArgFix` tree records where that happened; :func:`restore` then puts answer
values (function-call ``args``, structured-output JSON) back: typed enum members, no placeholders.
The tree only holds branches that lead to a fix, so most requests carry none (``None``).

Pure and dialect-neutral: it works on Gemini schemas and plain JSON values, for any client API.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class ArgFix:
    """Where, inside a value, the gateway's schema adaptations must be undone."""

    values: Mapping[str, Any] | None = None  # upstream text of a member → the typed member
    added: frozenset[str] = frozenset()  # properties the gateway added: dropped from answers
    properties: Mapping[str, ArgFix] = field(default_factory=dict)
    items: ArgFix | None = None
    any_of: tuple[ArgFix | None, ...] = ()


def _fix_or_none(fix: ArgFix) -> ArgFix | None:
    empty = not (fix.values or fix.added or fix.properties or fix.items or any(fix.any_of))
    return None if empty else fix


def stringify_enums(schema: dict[str, Any]) -> ArgFix | None:
    """Turn non-string ``enum`` members of a cleaned Gemini schema into strings (in place);
    return where that happened, to restore the typed members in answers."""
    values: dict[str, Any] = {}
    enum = schema.get("enum")
    if isinstance(enum, list):
        for member in enum:
            if not isinstance(member, str):
                values.setdefault(str(member), member)
                values.setdefault(json.dumps(member, separators=(",", ":")), member)
        schema["enum"] = [m if isinstance(m, str) else str(m) for m in enum]
    properties: dict[str, ArgFix] = {}
    subs = schema.get("properties")
    if isinstance(subs, dict):
        for name, sub in subs.items():
            if isinstance(sub, dict) and (found := stringify_enums(sub)) is not None:
                properties[name] = found
    items = stringify_enums(schema["items"]) if isinstance(schema.get("items"), dict) else None
    branches = schema.get("anyOf")
    any_of = tuple(
        stringify_enums(b) if isinstance(b, dict) else None
        for b in (branches if isinstance(branches, list) else ())
    )
    return _fix_or_none(
        ArgFix(
            values=values or None,
            properties=properties,
            items=items,
            any_of=any_of if any(any_of) else (),
        )
    )


def fill_empty_objects(schema: dict[str, Any], placeholder: Mapping[str, Any]) -> ArgFix | None:
    """Give every object schema without properties the ``placeholder`` properties (in place);
    return where they were added, so answers can drop them again."""
    added: frozenset[str] = frozenset()
    properties: dict[str, ArgFix] = {}
    subs = schema.get("properties")
    if isinstance(subs, dict):
        for name, sub in subs.items():
            if (
                isinstance(sub, dict)
                and (found := fill_empty_objects(sub, placeholder)) is not None
            ):
                properties[name] = found
    if schema.get("type") == "object" and not schema.get("properties"):
        schema["properties"] = copy.deepcopy(dict(placeholder))
        added = frozenset(placeholder)
    items = schema.get("items")
    items_fix = fill_empty_objects(items, placeholder) if isinstance(items, dict) else None
    return _fix_or_none(ArgFix(added=added, properties=properties, items=items_fix))


def merge(a: ArgFix | None, b: ArgFix | None) -> ArgFix | None:
    """One tree with the fixes of both (for the same schema)."""
    if a is None or b is None:
        return a if b is None else b
    names = {*a.properties, *b.properties}
    properties = {n: m for n in names if (m := merge(a.properties.get(n), b.properties.get(n)))}
    width = max(len(a.any_of), len(b.any_of))
    any_of = tuple(
        merge(
            a.any_of[i] if i < len(a.any_of) else None,
            b.any_of[i] if i < len(b.any_of) else None,
        )
        for i in range(width)
    )
    return ArgFix(
        values={**(b.values or {}), **(a.values or {})} or None,
        added=a.added | b.added,
        properties=properties,
        items=merge(a.items, b.items),
        any_of=any_of,
    )


def restore(fix: ArgFix | None, value: Any) -> Any:
    """``value`` (an answer, e.g. function-call args) as the client's schema declares it."""
    if fix is None:
        return value
    if fix.values is not None and isinstance(value, str) and value in fix.values:
        value = fix.values[value]
    elif isinstance(value, dict) and (fix.added or fix.properties):
        value = {
            key: restore(fix.properties.get(key), sub)
            for key, sub in value.items()
            if key not in fix.added
        }
    elif isinstance(value, list) and fix.items is not None:
        value = [restore(fix.items, sub) for sub in value]
    for branch in fix.any_of:
        value = restore(branch, value)
    return value


def restore_args(fixes: Mapping[str, ArgFix], name: str, args: Any) -> Any:
    """A function call's ``args`` restored with the fix of the tool it names (if any)."""
    fix = fixes.get(name)
    return args if fix is None else restore(fix, args)


def restore_json_text(fix: ArgFix | None, text: str) -> str:
    """Structured-output JSON text restored; text that is not JSON is returned as it is."""
    if fix is None or not text:
        return text
    try:
        value = json.loads(text)
    except ValueError:
        return text
    return json.dumps(restore(fix, value), ensure_ascii=False)
