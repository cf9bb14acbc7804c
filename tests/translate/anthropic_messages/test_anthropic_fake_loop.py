"""Tool loops through the fake upstream's model and rules, turn by turn (no HTTP, no state).

Each turn: translate the client body, let the fake validate it as the real backend would and
answer, read the answer as events, render the Anthropic message, and replay it next turn — the
translation keeps nothing between turns, so this is also the "gateway restarted" case.
"""

from __future__ import annotations

from typing import Any

import pytest

from ag2api.testing import fake_claude_rules, fake_model
from ag2api.translate.anthropic_messages.answer import to_message
from ag2api.translate.anthropic_messages.request import to_gemini
from ag2api.translate.gemini import events as gemini
from tests.support.claude_code_fixtures import first_request


class Fake:
    def __init__(self) -> None:
        self.issued: set[str] = set()
        self.ledger: dict[str, str] = {}
        self.requests: list[dict[str, Any]] = []
        self.closed: list[bool] = []

    def turn(self, body: dict[str, Any], model: str) -> dict[str, Any]:
        request, info = to_gemini(body, model=model, thinking_default=None)
        self.requests.append(request)
        self.closed.append(info.closed_loop)
        problem = fake_claude_rules.check(model, request, self.ledger)
        assert problem is None, problem
        # fake_model.validate demands thinking on *every* tool-calling Claude turn; Claude only
        # needs it on the open loop (older ones may be omitted, Anthropic's docs), which is the
        # rule fake_claude_rules checks above — so the fake's own copy is skipped here.
        gen = request.get("generationConfig") or {}
        fake_model.validate(
            model,
            {
                **request,
                "generationConfig": {k: v for k, v in gen.items() if k != "thinkingConfig"},
            },
            self.issued,
        )
        answer = fake_model.answer(model, request, None, self.issued)
        events = fake_model.events(model, request, answer, self.issued)
        fake_claude_rules.remember(model, events, self.ledger)
        typed = [e for ev in events for e in gemini.read(ev["response"])]
        return to_message(typed, model=body["model"], info=info, message_id="msg_x")


def loop(fake: Fake, models: list[str]) -> list[dict[str, Any]]:
    body = first_request()
    body["messages"][0]["content"][-1]["text"] = "please use Bash now"
    messages = []
    for model in models:
        message = fake.turn(body, model)
        messages.append(message)
        calls = [b for b in message["content"] if b["type"] == "tool_use"]
        body["messages"].append({"role": "assistant", "content": message["content"]})
        if calls:
            body["messages"].append(
                {
                    "role": "user",
                    "content": [
                        {"type": "tool_result", "tool_use_id": c["id"], "content": "ok"}
                        for c in calls
                    ],
                }
            )
        else:
            body["messages"].append({"role": "user", "content": "please use Bash again"})
    return messages


@pytest.mark.parametrize(
    "models",
    [
        ["claude-sonnet-4-5-thinking"] * 3,
        ["gemini-3-pro-high"] * 3,
        ["gemini-2.5-flash"] * 3,
    ],
)
def test_tool_loop_on_one_family(models: list[str]) -> None:
    fake = Fake()
    messages = loop(fake, models)
    assert fake.closed == [False] * 3  # every thinking block was replayable
    replayed = [
        p
        for turn in fake.requests[1]["contents"]
        for p in turn["parts"]
        if "functionCall" in p or p.get("thought")
    ]
    if models[0].startswith("claude"):  # the signed thinking, then the call
        assert replayed[0]["thoughtSignature"] in fake.ledger
    elif models[0].startswith("gemini-3"):  # the call's own signature, not the sentinel
        assert [p["thoughtSignature"] in fake.issued for p in replayed] == [True]
    assert messages[0]["stop_reason"] == "tool_use"
    assert messages[1]["stop_reason"] == "end_turn"  # answered the tool result
    assert messages[0]["content"][0]["type"] == "thinking"


@pytest.mark.parametrize(
    "models",
    [
        ["gemini-3-pro-high", "claude-sonnet-4-5-thinking", "claude-sonnet-4-5-thinking"],
        ["claude-sonnet-4-5-thinking", "gemini-3-pro-high", "gemini-3-pro-high"],
    ],
)
def test_model_switch_mid_loop(models: list[str]) -> None:
    fake = Fake()
    messages = loop(fake, models)
    assert all(m["content"] for m in messages)
    # Only the switch to Claude in an open loop needs closing (Gemini takes the sentinel).
    assert fake.closed == [False, models[1].startswith("claude"), False]
