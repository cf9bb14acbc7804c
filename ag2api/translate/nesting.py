"""Refusing client JSON nested too deeply, with a 400 that names where (checked iteratively)."""

from __future__ import annotations

from typing import Any

from ag2api.errors import InvalidRequest

# Deeper client JSON is refused: the upstream encoder stops near 254 levels, the gateway wraps
# what it forwards in about ten more, and no real request comes close.
MAX_NESTING = 100


def check_nesting(value: Any, param: str = "", limit: int = MAX_NESTING) -> None:
    """A 400 naming where ``value`` nests deeper than ``limit`` levels (checked iteratively)."""
    stack: list[tuple[Any, int, tuple[Any, ...] | None]] = [(value, 0, None)]
    while stack:
        node, depth, link = stack.pop()
        if depth > limit:
            where = _path(param, link)
            raise InvalidRequest(
                f"'{where}' is nested more than {limit} levels deep", param=where or None
            )
        if isinstance(node, dict):
            items: Any = node.items()
        elif isinstance(node, list):
            items = enumerate(node)
        else:
            continue
        for key, sub in items:
            if isinstance(sub, dict | list):
                stack.append((sub, depth + 1, (link, key)))


def _path(param: str, link: tuple[Any, ...] | None, keep: int = 4) -> str:
    """``param`` followed by the first ``keep`` steps of the path ``link`` leads to."""
    steps: list[Any] = []
    while link is not None:
        link, key = link
        steps.append(key)
    out = param
    for key in reversed(steps[-keep:] if len(steps) > keep else steps):
        out += f"[{key}]" if isinstance(key, int) else (f".{key}" if out else str(key))
    return out
