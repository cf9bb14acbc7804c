"""Thinking signatures and Gemini call signatures across turns, with no server state."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from ag2api.models.families import SENTINEL
from ag2api.testing import fake_claude_rules
from ag2api.translate.anthropic_messages.answer import to_message
from ag2api.translate.anthropic_messages.request import RequestInfo, to_gemini
from ag2api.translate.anthropic_messages.signatures import (
    pack_tool_use_id,
    unpack_tool_use_id,
    unwrap_thinking,
    wrap_thinking,
)
from ag2api.translate.gemini import events as gemini
from ag2api.translate.gemini.turns import CLOSED, CONTINUE
from tests.support.claude_code_fixtures import BASH, tool_result_request

CLAUDE = "claude-sonnet-4-5-thinking"
CLAUDE_SIG = base64.b64encode(b"claude-signature" * 5).decode()
GEMINI_SIG = base64.b64encode(b"\xb5gemini-call" * 4).decode()  # base64 starting with "t"


def chunk(*parts: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    cand: dict[str, Any] = {"content": {"role": "model", "parts": list(parts)}}
    if finish:
        cand["finishReason"] = finish
    return {"candidates": [cand]}


def answer(model: str, *chunks: dict[str, Any]) -> tuple[dict[str, Any], RequestInfo]:
    """The non-stream message the client gets for ``chunks`` on ``model``."""
    body = {"messages": [{"role": "user", "content": "go"}], "tools": [BASH]}
    _, info = to_gemini(body, model=model, thinking_default=None)
    events = [e for c in chunks for e in gemini.read(c)]
    return to_message(events, model="claude-opus-5-5", info=info, message_id="msg_1"), info


def claude_turn() -> dict[str, Any]:
    message, _ = answer(
        CLAUDE,
        chunk({"text": "Let me run ", "thought": True}),
        chunk({"text": "the command.", "thought": True}),
        chunk({"text": "", "thoughtSignature": CLAUDE_SIG}),
        chunk(
            {"functionCall": {"id": "toolu_abc", "name": "Bash", "args": {"command": "ls"}}},
            finish="STOP",
        ),
    )
    return message


def gemini_turn() -> dict[str, Any]:
    message, _ = answer(
        "gemini-3-pro-high",
        chunk({"text": "hidden thought", "thought": True}),
        chunk(
            {
                "functionCall": {"name": "Bash", "args": {"command": "ls"}},
                "thoughtSignature": GEMINI_SIG,
            },
            finish="STOP",
        ),
    )
    return message


def replay(message: dict[str, Any], model: str) -> tuple[dict[str, Any], RequestInfo]:
    tool_use = next(b for b in message["content"] if b["type"] == "tool_use")
    body = tool_result_request(message["content"], tool_use["id"])
    return to_gemini(body, model=model, thinking_default=None)


def test_wrap_and_unwrap() -> None:
    wrapped = wrap_thinking(CLAUDE, CLAUDE_SIG)
    assert wrapped == "ag2:claude:" + CLAUDE_SIG
    assert unwrap_thinking(wrapped, "claude-opus-4-6-thinking") == CLAUDE_SIG
    assert unwrap_thinking(wrapped, "gemini-3-pro-high") is None  # other family
    assert unwrap_thinking(CLAUDE_SIG, CLAUDE) is None  # not ours (direct Anthropic)
    assert unwrap_thinking("ag2:claude:", CLAUDE) is None
    assert unwrap_thinking(None, CLAUDE) is None


@pytest.mark.parametrize("sig", [GEMINI_SIG, "not base64 ~ at all", "CiQB" + "_" * 3])
def test_tool_use_id_round_trip(sig: str) -> None:
    packed = pack_tool_use_id("toolu_0123456789abcdef01234567", sig)
    assert all(c.isalnum() or c in "_-" for c in packed)  # Anthropic's id pattern
    assert unpack_tool_use_id(packed) == ("toolu_0123456789abcdef01234567", sig)


def test_plain_ids_carry_nothing() -> None:
    assert unpack_tool_use_id("toolu_01A") == ("toolu_01A", None)
    assert unpack_tool_use_id("toolu_x_ag2b_!!") == ("toolu_x_ag2b_!!", None)
    assert pack_tool_use_id("toolu_1", None) == "toolu_1"


def test_claude_round_trip_replays_the_signed_thinking_first() -> None:
    message = claude_turn()
    thinking, tool_use = message["content"]
    assert thinking == {
        "type": "thinking",
        "thinking": "Let me run the command.",
        "signature": "ag2:claude:" + CLAUDE_SIG,
    }
    assert tool_use["id"] == "toolu_abc" and message["stop_reason"] == "tool_use"
    request, info = replay(message, CLAUDE)
    model_turn = request["contents"][1]["parts"]
    assert model_turn[0] == {
        "text": "Let me run the command.",
        "thought": True,
        "thoughtSignature": CLAUDE_SIG,
    }
    assert model_turn[1] == {
        "functionCall": {"id": "toolu_abc", "name": "Bash", "args": {"command": "ls"}}
    }
    assert request["contents"][2]["parts"][0]["functionResponse"]["id"] == "toolu_abc"
    assert not info.closed_loop and info.dropped_thinking == 0
    ledger = {CLAUDE_SIG: "Let me run the command."}
    assert fake_claude_rules.check(CLAUDE, request, ledger) is None


def test_gemini3_round_trip_carries_the_call_signature_in_the_id() -> None:
    message = gemini_turn()
    thinking, tool_use = message["content"]
    assert thinking["signature"] == f"ag2:gemini:{GEMINI_SIG}"  # the call signed the thought
    assert "_ag2b_" in tool_use["id"]
    request, _ = replay(message, "gemini-3-pro-high")
    model_turn = request["contents"][1]["parts"]
    assert model_turn == [  # thought text is not replayed to Gemini
        {
            "functionCall": {
                "id": tool_use["id"].split("_ag2b_")[0],
                "name": "Bash",
                "args": {"command": "ls"},
            },
            "thoughtSignature": GEMINI_SIG,
        }
    ]


def test_claude_history_on_gemini3_drops_thinking_and_uses_the_sentinel() -> None:
    request, info = replay(claude_turn(), "gemini-3-pro-high")
    model_turn = request["contents"][1]["parts"]
    assert [p.get("thought") for p in model_turn] == [None]
    assert model_turn[0]["thoughtSignature"] == SENTINEL
    assert info.dropped_thinking == 1


def test_gemini_history_on_claude_closes_the_open_loop() -> None:
    request, info = replay(gemini_turn(), CLAUDE)
    contents = request["contents"]
    assert info.closed_loop and info.dropped_thinking == 1
    assert contents[-2:] == [
        {"role": "model", "parts": [{"text": CLOSED}]},
        {"role": "user", "parts": [{"text": CONTINUE}]},
    ]
    call = contents[1]["parts"][0]
    assert "thoughtSignature" not in call and "_ag2" not in call["functionCall"]["id"]
    assert fake_claude_rules.check(CLAUDE, request, {}) is None
    # Without the closing turns the backend's rule fails: the close is what makes it valid.
    unclosed = {**request, "contents": contents[:-2]}
    assert "Expected `thinking`" in (fake_claude_rules.check(CLAUDE, unclosed, {}) or "")


def test_direct_anthropic_signature_is_dropped_never_forwarded() -> None:
    message = claude_turn()
    message["content"][0]["signature"] = "EqQBCkYIBxgCKkBsss"  # signed by Anthropic itself
    request, info = replay(message, CLAUDE)
    assert "EqQBCkYIBxgCKkBsss" not in str(request)
    assert info.closed_loop and fake_claude_rules.check(CLAUDE, request, {}) is None


def test_thinking_off_for_claude_sends_no_thought_parts() -> None:
    message = claude_turn()
    tool_use = message["content"][1]
    body = tool_result_request(message["content"], tool_use["id"])
    body["thinking"] = {"type": "disabled"}
    request, info = to_gemini(body, model="claude-sonnet-4-5", thinking_default=None)
    assert not any(p.get("thought") for t in request["contents"] for p in t["parts"])
    assert not info.closed_loop


def test_closed_turns_without_thinking_do_not_close_a_new_loop() -> None:
    # An old, finished tool loop from Gemini, then a fresh user question: nothing to close.
    message = gemini_turn()
    body = tool_result_request(message["content"], message["content"][1]["id"])
    body["messages"] += [
        {"role": "assistant", "content": "Done."},
        {"role": "user", "content": "thanks, now explain"},
    ]
    request, info = to_gemini(body, model=CLAUDE, thinking_default=None)
    assert not info.closed_loop
    assert fake_claude_rules.check(CLAUDE, request, {}) is None


def test_a_rewritten_tool_use_id_gets_the_signature_from_the_thinking() -> None:
    """A client that rewrites tool ids (dropping the signature packed in them) but keeps the
    signed thinking block still gives Gemini 3 the call's own signature, not the sentinel."""
    message = gemini_turn()
    thinking, tool_use = message["content"]
    rewritten = [thinking, {**tool_use, "id": "toolu_rewritten"}]
    body = tool_result_request(rewritten, "toolu_rewritten")
    request, _ = to_gemini(body, model="gemini-3-pro-high", thinking_default=None)
    call = request["contents"][1]["parts"][0]
    assert call["functionCall"]["id"] == "toolu_rewritten"
    assert call["thoughtSignature"] == GEMINI_SIG
