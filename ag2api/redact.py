"""Masking of secrets and identifiers before they reach a log line or a response."""

from __future__ import annotations


def mask(value: str | None, keep: int = 4) -> str:
    """``"helpful-perigee-2nnd9"`` → ``"help…nnd9"``; short values are fully hidden."""
    if not value:
        return "-"
    if len(value) <= 2 * keep + 2:
        return "*" * min(len(value), 8)
    return f"{value[:keep]}…{value[-keep:]}"
