"""JSON Schemas the tests feed the schema cleaner."""

from __future__ import annotations

from typing import Any


def ref_bomb(levels: int) -> dict[str, Any]:
    """Definitions L0 … L<levels-1>, each with two properties that ``$ref`` the next: under 3 KB
    at 30 levels, a billion nodes once inlined."""
    defs: dict[str, Any] = {}
    for i in range(levels):
        nxt = {"$ref": f"#/$defs/L{i + 1}"} if i + 1 < levels else {"type": "string"}
        defs[f"L{i}"] = {"type": "object", "properties": {"a": nxt, "b": dict(nxt)}}
    return {"type": "object", "properties": {"x": {"$ref": "#/$defs/L0"}}, "$defs": defs}
