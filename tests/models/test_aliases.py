"""Model-name resolution: configured aliases (exact, glob, lists), listed ids, shipped defaults."""

from __future__ import annotations

import pytest

from ag2api.models.aliases import Alias, best_match, resolve
from ag2api.models.entries import strip_context_suffix

LISTED = (
    "claude-opus-4-6-thinking",
    "claude-sonnet-4-5",
    "claude-sonnet-4-5-thinking",
    "gemini-2.5-flash",
    "gemini-2.5-flash-lite",
    "gemini-3-flash",
    "gemini-3-pro-image",
    "gemini-3-pro-high",
)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("claude-opus-5-5", "claude-opus-4-6-thinking"),  # Claude Code 2.1.332's default id
        ("claude-opus-4-1", "claude-opus-4-6-thinking"),
        ("claude-opus-4-1-20250805", "claude-opus-4-6-thinking"),
        ("claude-sonnet-4-5-20250929", "claude-sonnet-4-5-thinking"),
        ("claude-sonnet-4-6", "claude-sonnet-4-5-thinking"),
        ("claude-haiku-4-5-20251001", "gemini-3-flash"),
        ("claude-haiku-4-5", "gemini-3-flash"),
        ("claude-sonnet-4-5", "claude-sonnet-4-5"),  # listed: used as is
        ("claude-sonnet-4-5[1m]", "claude-sonnet-4-5"),
        ("claude-opus-4-6-thinking[1m][1m]", "claude-opus-4-6-thinking"),
        ("claude-3-7-whatever", "claude-opus-4-6-thinking"),
        ("gpt-9", None),
        ("gemini-9-ultra", None),
    ],
)
def test_shipped_defaults_map_claude_code_ids(name: str, expected: str | None) -> None:
    assert resolve(name, LISTED, ()) == expected


def test_defaults_fall_back_across_classes_and_can_be_turned_off() -> None:
    only_sonnet = ("claude-sonnet-4-5", "gemini-2.5-flash")
    assert resolve("claude-opus-5-5", only_sonnet, ()) == "claude-sonnet-4-5"
    assert resolve("claude-opus-5-5", ("gemini-2.5-flash",), ()) is None
    assert resolve("claude-opus-5-5", LISTED, (), defaults=False) is None


def test_user_aliases_come_first_with_globs_and_lists() -> None:
    aliases = (
        Alias("claude-*haiku*", ("gemini-2.5-flash",)),
        Alias("claude-opus-*", ("claude-opus-9-*", "claude-sonnet-*-thinking")),
        Alias("house", ("gemini-*-pro-*",)),
    )
    assert resolve("claude-haiku-4-5", LISTED, aliases) == "gemini-2.5-flash"
    assert resolve("claude-opus-5-5", LISTED, aliases) == "claude-sonnet-4-5-thinking"
    assert resolve("house", LISTED, aliases) == "gemini-3-pro-high"


def test_best_match_prefers_newer_and_plain_variants() -> None:
    assert best_match("gemini-*flash*", LISTED) == "gemini-3-flash"
    assert best_match("gemini-2.5-*", LISTED) == "gemini-2.5-flash"
    assert best_match("nothing-*", LISTED) is None
    assert strip_context_suffix("x[1M]") == "x"


LISTED_2026 = (
    "claude-opus-4-6-thinking",
    "gemini-2.5-flash",
    "gemini-2.5-pro",
    "gemini-3-flash-agent",
    "gemini-3.1-flash-image",
    "gemini-3.1-flash-lite",
    "gemini-3.1-pro-high",
    "gemini-3.1-pro-low",
    "gemini-3.7-flash-high",
)


@pytest.mark.parametrize(
    ("name", "listed", "expected"),
    [
        # Gemini CLI's `auto`: the router, then the flash or pro turn
        # (docs/clients/recorded-requests.md).
        ("gemini-3.5-flash-lite", LISTED, "gemini-2.5-flash-lite"),
        ("gemini-3.5-flash-lite", LISTED_2026, "gemini-3.1-flash-lite"),
        ("gemini-3.8-flash", LISTED, "gemini-3-flash"),
        ("gemini-3.8-flash", LISTED_2026, "gemini-3.7-flash-high"),
        ("gemini-3.1-pro-preview", LISTED, "gemini-3-pro-high"),
        ("gemini-3.1-pro-preview", LISTED_2026, "gemini-3.1-pro-high"),
        ("gemini-2.5-pro", LISTED, "gemini-3-pro-high"),
        ("gemini-2.5-pro", LISTED_2026, "gemini-2.5-pro"),  # listed: used as is
        ("gemini-3-pro-image-preview", LISTED, "gemini-3-pro-image"),
        ("gemini-3-pro-image-preview", LISTED_2026, "gemini-3.1-flash-image"),
        ("gemini-3-flash-preview", ("gemini-3.1-flash-image",), None),  # never a text → image
        ("gemini-3-pro-image-preview", ("gemini-3-pro-high", "gemini-3-flash"), None),  # nor back
        ("gemini-2.5-flash-image", ("gemini-3-flash",), None),
        ("gemini-9-ultra", LISTED_2026, None),
    ],
)
def test_shipped_defaults_map_gemini_cli_names(
    name: str, listed: tuple[str, ...], expected: str | None
) -> None:
    assert resolve(name, listed, ()) == expected
    assert resolve(name, listed, (), defaults=False) == (name if name in listed else None)


def test_a_glob_picks_an_image_model_only_when_it_asks_for_one() -> None:
    listed = ("gemini-3-flash", "gemini-3.1-flash-image")
    assert best_match("gemini-*flash*", listed) == "gemini-3-flash"  # (3, 1) would win by version
    assert best_match("gemini-*image*", listed) == "gemini-3.1-flash-image"
    assert resolve("claude-haiku-4-5", ("gemini-3.1-flash-image", "claude-sonnet-4-5"), ()) == (
        "claude-sonnet-4-5"
    )
