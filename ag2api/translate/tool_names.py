"""Declared tool names both Gemini and Claude accept, unique within one request."""

from __future__ import annotations

import re

_NAME_BAD = re.compile(r"[^A-Za-z0-9_-]")
MAX_NAME = 64


def safe_name(name: str) -> str:
    """A name both Gemini and Claude accept: ``[A-Za-z0-9_-]``, starts with a letter or ``_``."""
    out = _NAME_BAD.sub("_", name) or "_"
    if not (out[0].isalpha() or out[0] == "_"):
        out = "_" + out
    return out[:MAX_NAME]


def unique_name(name: str, taken: set[str]) -> str:
    """``name``, or ``name_2``, ``name_3`` … (cut to fit) when taken; the result is added to
    ``taken`` — two client names that sanitise alike must not collide upstream."""
    candidate, n = name, 2
    while candidate in taken:
        suffix = f"_{n}"
        candidate, n = name[: MAX_NAME - len(suffix)] + suffix, n + 1
    taken.add(candidate)
    return candidate
