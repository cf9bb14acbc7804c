"""Which upstream model a client's model name means: configured aliases (exact or glob), the
listed models, then the shipped defaults that let an unconfigured Claude Code or Gemini CLI work.

Pure: names in, a name (or None) out. A target without glob characters is used as is; a glob
target picks the best listed model it matches (highest version; plain before lite, image or
preview variants; an image model only when the target itself says "image"), and several targets
are tried in order.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from fnmatch import fnmatchcase

from ag2api.config.schema import GLOB, Alias
from ag2api.models.entries import strip_context_suffix

_NUMBER = re.compile(r"\d+")
_LESSER = ("lite", "image", "preview", "exp")


# Claude Code sends Anthropic ids (dated, undated, and ids newer than any listed model): opus and
# sonnet go to the best Claude model the accounts list, haiku-class background work to a fast
# Gemini model. User aliases are tried first; `models.default_aliases: false` turns these off.
DEFAULT_ALIASES = (
    Alias("claude-*haiku*", ("gemini-*-flash", "gemini-*flash*", "claude-sonnet-*", "claude-*")),
    Alias(
        "claude-*opus*",
        (
            "claude-opus-*-thinking",
            "claude-opus-*",
            "claude-sonnet-*-thinking",
            "claude-sonnet-*",
            "claude-*",
        ),
    ),
    Alias(
        "claude-*sonnet*",
        (
            "claude-sonnet-*-thinking",
            "claude-sonnet-*",
            "claude-opus-*-thinking",
            "claude-opus-*",
            "claude-*",
        ),
    ),
    Alias("claude-*", ("claude-*-thinking", "claude-*")),
    # Gemini CLI sends Gemini API names the backend does not list (its `auto` mode: a router call
    # on gemini-3.5-flash-lite, then gemini-3.8-flash or gemini-3.1-pro-preview; `-m
    # gemini-3-pro-preview` goes out as gemini-3.1-pro-preview): each to the best listed model of
    # its class. Image names first, so no text name lands on an image model or back.
    Alias("gemini-*image*", ("gemini-*image*",)),
    Alias("gemini-*flash-lite*", ("gemini-*-flash-lite", "gemini-*-flash", "gemini-*flash*")),
    Alias("gemini-*flash*", ("gemini-*-flash-high", "gemini-*-flash", "gemini-*flash*")),
    Alias("gemini-*pro*", ("gemini-*-pro-high", "gemini-*-pro", "gemini-*pro*")),
)


def _rank(model: str) -> tuple[tuple[int, ...], int, int]:
    """Sort key, larger is better: version numbers, then fewer lesser-variant words, shorter."""
    lesser = sum(1 for word in _LESSER if word in model)
    return tuple(int(n) for n in _NUMBER.findall(model)), -lesser, -len(model)


def best_match(pattern: str, listed: Sequence[str]) -> str | None:
    # An image model answers only image requests (requestType image_gen): a glob picks one
    # only when it asks for images itself.
    images = "image" in pattern
    found = [m for m in listed if fnmatchcase(m, pattern) and (images or "image" not in m)]
    return max(found, key=_rank) if found else None


def pick(targets: Sequence[str], listed: Sequence[str]) -> str | None:
    for target in targets:
        if not GLOB.search(target):
            return target
        if (found := best_match(target, listed)) is not None:
            return found
    return None


def resolve(
    name: str, listed: Sequence[str], aliases: Sequence[Alias], *, defaults: bool = True
) -> str | None:
    """The upstream model for ``name``, or None when nothing matches."""
    name = strip_context_suffix(name)
    for alias in aliases:
        if alias.matches(name) and (target := pick(alias.targets, listed)) is not None:
            return target
    if name in listed:
        return name
    if defaults:
        # The first shipped alias that matches decides (an image name that finds no image model
        # must not fall through to the text classes).
        shipped = next((a for a in DEFAULT_ALIASES if a.matches(name)), None)
        return pick(shipped.targets, listed) if shipped is not None else None
    return None
