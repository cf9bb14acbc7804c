"""Obscuring trigger phrases in the system instruction sent upstream (``upstream.sensitive_words``).

Google's backend refuses some agent requests for phrases in their system instruction, answering
a bare 429 that looks like an exhausted quota. A zero-width space (U+200B) after the phrase's
first character lets the same request through, and the model reads the text as before. Only
the system instruction is touched: turns, tool results and tool declarations go upstream byte
for byte, and a request with nothing to obscure is passed on as the same object.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

ZWSP = "\u200b"


def _fold(text: str) -> str:
    """``text`` lowercased character for character, so that indexes still match ``text``."""
    low = text.lower()
    if len(low) == len(text):
        return low
    return "".join(c if len(c.lower()) != 1 else c.lower() for c in text)  # e.g. "İ" stays


@dataclass(frozen=True)
class PhraseMatcher:
    """Literal phrases, case ignored: the leftmost match wins, and the longest at one place.

    Searching with ``str.find`` on the lowercased text costs about 2 ns a character (a
    case-insensitive regular expression of the same phrases, about 40)."""

    phrases: tuple[str, ...]  # folded, longest first

    @classmethod
    def of(cls, words: Iterable[str]) -> PhraseMatcher | None:
        folded = {_fold(w) for w in words if w}
        return cls(tuple(sorted(folded, key=lambda p: (-len(p), p)))) if folded else None

    def obscure(self, text: str) -> str | None:
        """``text`` with U+200B after the first character of every match; None: no match."""
        low = _fold(text)
        if not any(p in low for p in self.phrases):
            return None
        out: list[str] = []
        pos = 0
        ahead = {p: low.find(p) for p in self.phrases}
        while True:
            best, found = -1, ""
            for phrase in self.phrases:  # longest first: at one place the first found stays
                at = ahead[phrase]
                if 0 <= at < pos:
                    at = ahead[phrase] = low.find(phrase, pos)
                if at >= 0 and (best < 0 or at < best):
                    best, found = at, phrase
            if best < 0:
                break
            end = best + len(found)
            out += (text[pos : best + 1], ZWSP, text[best + 1 : end])
            pos = end
        out.append(text[pos:])
        return "".join(out)


def obscure_system(request: dict[str, Any], matcher: PhraseMatcher | None) -> dict[str, Any]:
    """``request`` with the matches in its system instruction split by U+200B (a new top-level
    dict and system instruction when anything matched; everything else is shared)."""
    if matcher is None:
        return request
    system = request.get("systemInstruction")
    if not isinstance(system, dict) or not isinstance(system.get("parts"), list):
        return request
    parts: list[Any] = system["parts"]
    changed: list[Any] | None = None
    for i, part in enumerate(parts):
        text = part.get("text") if isinstance(part, dict) else None
        if isinstance(text, str) and (split := matcher.obscure(text)) is not None:
            changed = changed or list(parts)
            changed[i] = {**part, "text": split}
    if changed is None:
        return request
    return {**request, "systemInstruction": {**system, "parts": changed}}
