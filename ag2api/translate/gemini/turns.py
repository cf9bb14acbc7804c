"""Folding converted turns into the alternation Gemini wants."""

from __future__ import annotations

from typing import Any


def merge_turns(turns: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Consecutive same-role turns fold together (Gemini wants alternation); in a user turn the
    tool results come first, as the calls they answer expect."""
    out: list[dict[str, Any]] = []
    for turn in turns:
        if out and out[-1]["role"] == turn["role"]:
            out[-1]["parts"].extend(turn["parts"])
            if turn["role"] == "user":
                out[-1]["parts"].sort(key=lambda p: "functionResponse" not in p)
        else:
            out.append({"role": turn["role"], "parts": list(turn["parts"])})
    return out
