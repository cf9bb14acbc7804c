"""The fake upstream's Claude thinking rules (ag2api.testing.fake_claude_rules)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from ag2api.testing import fake_claude_rules as rules
from ag2api.testing.fake_model import Answer, events

MODEL = "claude-sonnet-4-5-thinking"
THINKING = {
    "generationConfig": {"thinkingConfig": {"includeThoughts": True, "thinkingBudget": 1024}}
}


def call(n: int = 1) -> dict[str, Any]:
    return {"functionCall": {"id": f"toolu_{n}", "name": "f", "args": {}}}


def result(n: int = 1) -> dict[str, Any]:
    return {"functionResponse": {"id": f"toolu_{n}", "name": "f", "response": {"result": "ok"}}}


def thought(text: str = "plan", sig: str = "SIG") -> dict[str, Any]:
    return {"text": text, "thought": True, "thoughtSignature": sig}


def request(*turns: tuple[str, list[dict[str, Any]]], thinking: bool = True) -> dict[str, Any]:
    body: dict[str, Any] = {"contents": [{"role": r, "parts": p} for r, p in turns]}
    return {**body, **(THINKING if thinking else {})}


USER = ("user", [{"text": "go"}])
LEDGER = {"SIG": "plan", "SIG2": "more"}


@pytest.mark.parametrize(
    ("req", "problem"),
    [
        (request(USER, ("model", [thought(), call()]), ("user", [result()])), None),
        (request(USER, ("model", [call()]), ("user", [result()])), "Expected `thinking`"),
        (request(USER, ("model", [call()]), ("user", [result()]), thinking=False), None),
        (
            request(USER, ("model", [thought(sig="FORGED"), call()]), ("user", [result()])),
            "Invalid `signature`",
        ),
        (
            request(USER, ("model", [thought(text="edited"), call()]), ("user", [result()])),
            "Invalid `signature`",
        ),
        (
            request(
                USER, ("model", [{"text": "plan", "thought": True}, call()]), ("user", [result()])
            ),
            "Field required",
        ),
        # a two-step open loop: every step needs its thinking
        (
            request(
                USER,
                ("model", [call(1)]),
                ("user", [result(1)]),
                ("model", [thought("more", "SIG2"), call(2)]),
                ("user", [result(2)]),
            ),
            "messages.1.content.0.type",
        ),
        # a closed loop (a user question after it) may lack thinking
        (
            request(
                USER,
                ("model", [call()]),
                ("user", [result()]),
                ("model", [{"text": "done"}]),
                ("user", [{"text": "next"}]),
            ),
            None,
        ),
        (request(USER), None),
    ],
)
def test_check(req: dict[str, Any], problem: str | None) -> None:
    got = rules.check(MODEL, req, LEDGER)
    assert (got is None) if problem is None else (problem in (got or ""))


def test_only_claude_is_checked() -> None:
    assert (
        rules.check(
            "gemini-3-pro-high", request(USER, ("model", [call()]), ("user", [result()])), {}
        )
        is None
    )


def test_plain_issued_set_checks_membership_only() -> None:
    req = request(USER, ("model", [thought(text="any text"), call()]), ("user", [result()]))
    assert rules.check(MODEL, req, {"SIG"}) is None
    assert rules.check(MODEL, req, set()) is not None


def test_remember_reads_the_fakes_own_claude_answer() -> None:
    issued: set[str] = set()
    answer = Answer(
        thoughts=["Thinking about ", "it"], calls=[{"name": "f", "args": {}, "id": "toolu_1"}]
    )
    ledger: dict[str, str] = {}
    rules.remember(MODEL, events(MODEL, {"contents": []}, answer, issued), ledger)
    assert list(ledger.values()) == ["Thinking about it"] and set(ledger) == issued
    rules.remember("gemini-3-pro-high", events("gemini-3-pro-high", {}, answer, set()), ledger)
    assert len(ledger) == 1


def test_error_body_wraps_claudes_error() -> None:
    body = rules.error_body("boom")
    inner = json.loads(body["error"]["message"])
    assert inner["error"] == {"type": "invalid_request_error", "message": "boom"}
    assert body["error"]["code"] == 400


@pytest.mark.parametrize(
    ("body", "ok"),
    [
        ({"request": {"contents": []}}, True),
        ({"request": {"contents": []}, "model": "x"}, False),
        ({"request": {"contents": [], "safetySettings": []}}, False),
        ({"contents": []}, False),
        ([], False),
    ],
)
def test_count_tokens_body(body: Any, ok: bool) -> None:
    assert (rules.count_tokens_problem(body) is None) is ok
