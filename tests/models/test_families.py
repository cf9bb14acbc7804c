"""Model-family rules over Gemini request dicts."""

from __future__ import annotations

from typing import Any

import pytest

from ag2api.models import families
from ag2api.models.families import SENTINEL
from ag2api.translate.gemini import family_rules
from ag2api.translate.typed_args import ArgFix, restore


@pytest.mark.parametrize(
    ("model", "claude", "gemini3", "image"),
    [
        ("claude-sonnet-4-5-thinking", True, False, False),
        ("gemini-3-pro-high", False, True, False),
        ("gemini-3-pro-image", False, True, True),
        ("gemini-3.1-flash-image-preview", False, True, True),
        ("gemini-2.5-flash", False, False, False),
    ],
)
def test_predicates(model: str, claude: bool, gemini3: bool, image: bool) -> None:
    assert families.is_claude(model) is claude
    assert families.is_gemini3(model) is gemini3
    assert families.is_image_model(model) is image


def tools_request(**extra: Any) -> dict[str, Any]:
    return {
        "contents": [
            {"role": "user", "parts": [{"text": "hi"}]},
            {
                "role": "model",
                "parts": [
                    {"functionCall": {"name": "a", "args": {}}},
                    {"functionCall": {"name": "b", "args": {}}, "thoughtSignature": "real"},
                ],
            },
        ],
        "tools": [
            {
                "functionDeclarations": [
                    {"name": "a", "parameters": {"type": "object", "properties": {}}},
                    {
                        "name": "b",
                        "parameters": {
                            "type": "object",
                            "properties": {"o": {"type": "object"}},
                        },
                    },
                    {"name": "c"},
                ]
            }
        ],
        **extra,
    }


def test_claude_rules() -> None:
    request = tools_request(generationConfig={"thinkingConfig": {"thinkingBudget": 2048}})
    fixes = family_rules.apply_family_rules(request, "claude-opus-4-6-thinking")
    decls = request["tools"][0]["functionDeclarations"]
    assert family_rules.top_level_placeholders(fixes) == {"a", "c"}
    assert set(fixes) == {"a", "b", "c"}  # b: nested, dropped from answers too
    assert restore(fixes["b"], {"o": {"reason": "x"}, "reason": "kept"}) == {
        "o": {},
        "reason": "kept",
    }
    assert decls[0]["parameters"]["properties"] == family_rules.PLACEHOLDER
    assert decls[1]["parameters"]["properties"]["o"]["properties"] == family_rules.PLACEHOLDER
    assert request["toolConfig"] == {"functionCallingConfig": {"mode": "VALIDATED"}}
    assert request["generationConfig"]["maxOutputTokens"] == families.CLAUDE_MAX_OUTPUT
    assert "thoughtSignature" not in request["contents"][1]["parts"][0]  # no sentinel for Claude


@pytest.mark.parametrize(
    ("mode", "expected"), [("AUTO", "VALIDATED"), ("ANY", "ANY"), ("NONE", "NONE")]
)
def test_claude_mode(mode: str, expected: str) -> None:
    request = tools_request(toolConfig={"functionCallingConfig": {"mode": mode}})
    family_rules.apply_family_rules(request, "claude-sonnet-4-5")
    assert request["toolConfig"]["functionCallingConfig"]["mode"] == expected


@pytest.mark.parametrize(
    ("limit", "budget", "expected_limit", "expected_budget"),
    [
        (None, 2048, 64000, 2048),
        (4096, 8000, 4096, 4095),
        (1024, 2048, 1024, None),  # too little left to think with: thinking dropped
        (8192, 2048, 8192, 2048),
    ],
)
def test_claude_output_limit(
    limit: int | None, budget: int, expected_limit: int, expected_budget: int | None
) -> None:
    gen: dict[str, Any] = {"thinkingConfig": {"includeThoughts": True, "thinkingBudget": budget}}
    if limit is not None:
        gen["maxOutputTokens"] = limit
    family_rules.claude_output_limit(gen)
    assert gen["maxOutputTokens"] == expected_limit
    assert (gen.get("thinkingConfig") or {}).get("thinkingBudget") == expected_budget


def test_gemini_rules_sign_replayed_calls() -> None:
    request = tools_request()
    assert family_rules.apply_family_rules(request, "gemini-3-pro-high") == {}
    parts = request["contents"][1]["parts"]
    assert [p["thoughtSignature"] for p in parts] == [SENTINEL, "real"]
    assert "toolConfig" not in request
    assert request["tools"][0]["functionDeclarations"][0]["parameters"]["properties"] == {}


def test_image_model_shape() -> None:
    request = tools_request(
        systemInstruction={"parts": [{"text": "s"}]},
        generationConfig={"thinkingConfig": {"includeThoughts": True}},
    )
    family_rules.apply_family_rules(request, "gemini-3-pro-image")
    assert set(request) == {"contents", "generationConfig"}
    assert request["generationConfig"] == {
        "candidateCount": 1,
        "responseModalities": ["TEXT", "IMAGE"],
        "imageConfig": {"aspectRatio": "1:1", "imageSize": "1K"},
    }


def test_family_limits() -> None:
    assert families.max_output_cap("claude-x") == 64000
    assert families.max_output_cap("gemini-2.5-pro") == 65536


@pytest.mark.parametrize(
    ("model", "penalties", "seed"),
    [
        ("claude-sonnet-4-5", False, False),
        ("gemini-3-flash", False, True),
        ("gemini-2.5-pro", True, True),
    ],
)
def test_knobs(model: str, penalties: bool, seed: bool) -> None:
    assert families.takes_penalties(model) is penalties
    assert families.takes_seed(model) is seed


def test_rules_merge_into_the_schema_fixes() -> None:
    enum_fix = ArgFix(values={"1": 1})
    request = tools_request()
    fixes = family_rules.apply_family_rules(request, "claude-sonnet-4-5", {"a": enum_fix})
    assert restore(fixes["a"], {"reason": "r", "n": "1"}) == {"n": "1"}
    assert restore(fixes["a"], "1") == 1
    assert family_rules.apply_family_rules(
        tools_request(), "gemini-2.5-flash", {"a": enum_fix}
    ) == {"a": enum_fix}


@pytest.mark.parametrize(
    ("model", "budget", "expected"),
    [
        ("gemini-3-flash", 1024, {"includeThoughts": True, "thinkingLevel": "low"}),
        ("gemini-3-flash", 8192, {"includeThoughts": True, "thinkingLevel": "medium"}),
        ("gemini-3-pro-high", 8192, {"includeThoughts": True, "thinkingLevel": "high"}),
        ("gemini-2.5-pro", 5000, {"includeThoughts": True, "thinkingBudget": 5000}),
        ("claude-opus-4-6-thinking", 5000, {"includeThoughts": True, "thinkingBudget": 5000}),
        ("gpt-oss-120b-medium", 5000, None),
    ],
)
def test_thinking_for_budget(model: str, budget: int, expected: dict[str, Any] | None) -> None:
    assert families.thinking_for_budget(model, budget) == expected
