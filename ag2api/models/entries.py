"""Models as clients name them and as model lists show them — pure data and functions on ids,
the part of ``models/`` the translators may import (``translate/`` imports only leaves).

A listed model (:class:`ModelEntry`), who makes it (``owned_by``) and its name in a model
picker; the public entries of a ``fetchAvailableModels`` answer; and the marker Claude Code
appends to a model id, taken off before the id is resolved.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from ag2api.models.families import is_claude

_INTERNAL_PREFIXES = ("chat_", "tab_")
# Claude Code may leak its 1M-context marker into the id (sometimes twice).
_CONTEXT_SUFFIX = re.compile(r"(\[1m\])+$", re.IGNORECASE)


@dataclass(frozen=True)
class ModelEntry:
    """A listed model (each dialect renders it in its own shape: ``translate/*/models.py``)."""

    id: str
    owned_by: str
    alias_of: str | None = None  # a configured alias: the model that serves it

    @property
    def serves(self) -> str:
        """The upstream model a request for this entry is served by."""
        return self.alias_of or self.id


def strip_context_suffix(name: str) -> str:
    return _CONTEXT_SUFFIX.sub("", name)


def display_name(model_id: str) -> str:
    """``claude-opus-4-6-thinking`` → ``Claude Opus 4.6 Thinking`` (for model pickers)."""
    words: list[str] = []
    for word in model_id.split("-"):
        if word.isdigit() and words and words[-1][-1:].isdigit():
            words[-1] += "." + word
        else:
            words.append(word if word.isdigit() else word.capitalize())
    return " ".join(words)


def vendor_of(model_id: str, provider: str | None = None) -> str:
    """Who makes the model (a model list's ``owned_by``): the upstream's provider, else a guess
    from the id."""
    if provider:
        return provider.removeprefix("MODEL_PROVIDER_").lower()
    if is_claude(model_id):
        return "anthropic"
    if model_id.startswith("gpt"):
        return "openai"
    return "google"


def parse_available_models(body: dict[str, Any]) -> tuple[ModelEntry, ...]:
    """``fetchAvailableModels`` → public entries (internal ids like chat_20706 are hidden)."""
    models = body.get("models")
    if not isinstance(models, dict):
        return ()
    out: list[ModelEntry] = []
    for model_id, info in sorted(models.items()):
        info = info if isinstance(info, dict) else {}
        if model_id.startswith(_INTERNAL_PREFIXES) or info.get("isInternal"):
            continue
        if info.get("apiProvider") == "API_PROVIDER_INTERNAL":
            continue
        out.append(ModelEntry(model_id, vendor_of(model_id, info.get("modelProvider"))))
    return tuple(out)
