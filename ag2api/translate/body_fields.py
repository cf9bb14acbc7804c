"""Range-checked numeric fields of a client body; a bad value is a 400 naming the field."""

from __future__ import annotations

from typing import Any

from ag2api.errors import InvalidRequest


def number(body: dict[str, Any], key: str, lo: float, hi: float) -> float | None:
    """``body[key]`` as a number in ``[lo, hi]`` (None when absent)."""
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not lo <= value <= hi:
        raise InvalidRequest(f"'{key}' must be a number from {lo} to {hi}", param=key)
    return value


def integer(body: dict[str, Any], key: str, lo: int, hi: int) -> int | None:
    """``body[key]`` as an integer in ``[lo, hi]`` (None when absent)."""
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise InvalidRequest(f"'{key}' must be an integer from {lo} to {hi}", param=key)
    return value


def put(gen: dict[str, Any], target: str, value: Any) -> None:
    """``gen[target] = value`` unless the field was absent (``value`` None)."""
    if value is not None:
        gen[target] = value
