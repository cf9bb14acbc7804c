"""upstream.sensitive_words: which text is obscured, how, and what the setting accepts."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from ag2api.config.load import ConfigError, parse_config
from ag2api.config.schema import DEFAULT_SENSITIVE_WORDS
from ag2api.upstream.sensitive_words import PhraseMatcher, obscure_system

P = Path("/srv/ag2api/conf/gateway.yaml")


def matcher(*words: str) -> PhraseMatcher:
    built = PhraseMatcher.of(words)
    assert built is not None
    return built


@pytest.mark.parametrize(
    ("words", "text", "expected"),
    [
        (("Codex",), "I am codex. CODEX!", "I am c\u200bodex. C\u200bODEX!"),
        # The longest phrase wins where several start at one place.
        (("Claude", "Claude Agent SDK"), "Claude Agent SDK", "C\u200blaude Agent SDK"),
        (("Agent SDK", "Claude Agent"), "Claude Agent SDK", "C\u200blaude Agent SDK"),
        # Already split (a replayed prompt): left as it is.
        (("Codex",), "C\u200bodex", None),
        (("Codex",), "nothing here", None),
        # Lowercasing that changes a text's length must not shift where U+200B goes.
        (("Codex",), "İ Codex", "İ C\u200bodex"),
    ],
)
def test_matches_get_u200b_after_their_first_character(
    words: tuple[str, ...], text: str, expected: str | None
) -> None:
    assert matcher(*words).obscure(text) == expected


def gemini_request(system: list[str], user: str) -> dict[str, Any]:
    return {
        "systemInstruction": {"role": "user", "parts": [{"text": t} for t in system]},
        "contents": [
            {"role": "user", "parts": [{"text": user}]},
            {"role": "model", "parts": [{"functionCall": {"name": "Codex", "args": {}}}]},
            {
                "role": "user",
                "parts": [{"functionResponse": {"name": "Codex", "response": {"out": user}}}],
            },
        ],
        "tools": [{"functionDeclarations": [{"name": "Codex", "description": user}]}],
    }


def test_only_the_system_instruction_is_touched() -> None:
    said = "You are Codex, an agent based on GPT-5."
    request = gemini_request(["Intro.", said], said)
    before = copy.deepcopy(request)
    out = obscure_system(request, matcher(*DEFAULT_SENSITIVE_WORDS))
    assert request == before  # the caller's request is not changed in place
    assert [p["text"] for p in out["systemInstruction"]["parts"]] == [
        "Intro.",
        "You are C\u200bodex, an agent based on GPT-5.",
    ]
    assert out["systemInstruction"]["parts"][0] is request["systemInstruction"]["parts"][0]
    for key in ("contents", "tools"):
        assert out[key] is request[key]  # turns, tool results and declarations: as they were


def test_nothing_to_obscure_passes_the_same_request() -> None:
    request = gemini_request(["You are a helpful assistant."], "hi")
    assert obscure_system(request, matcher("Codex")) is request
    assert obscure_system(request, None) is request
    assert obscure_system({"contents": []}, matcher("Codex")) == {"contents": []}


def test_setting_defaults_empty_list_and_reload_build_one_matcher() -> None:
    shipped = parse_config("", path=P).upstream
    assert shipped.sensitive_words == DEFAULT_SENSITIVE_WORDS
    assert shipped.sensitive_matcher is shipped.sensitive_matcher  # built once per snapshot
    off = parse_config("upstream: {sensitive_words: []}", path=P)
    assert off.upstream.sensitive_matcher is None
    own = parse_config("upstream: {sensitive_words: [' Acme ', acme, ACME kit]}", path=P)
    assert own.upstream.sensitive_words == ("Acme", "ACME kit")


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("Codex", "must be a list"),
        ("null", "must be a list"),
        ("[x]", "2 characters or more"),
        ("[3]", "2 characters or more"),
        ('["C\\u200bodex"]', "zero-width space"),
    ],
)
def test_bad_phrases_are_refused_with_the_field_named(value: str, reason: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(f"upstream:\n  sensitive_words: {value}\n", path=P)
    assert "upstream.sensitive_words" in str(info.value) and reason in str(info.value)
