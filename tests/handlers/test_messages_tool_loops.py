"""Tool loops with thinking through the real Anthropic SDK, replaying the SDK's own content
blocks, against a fake upstream that enforces Claude's and Gemini 3's signature rules: one
family, across a gateway restart, and across a model switch."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anthropic
import pytest

from ag2api.testing import fake_bodies as bodies
from ag2api.testing.fake_model import SENTINEL, new_signature
from ag2api.testing.fake_upstream import FakeUpstream, Step
from ag2api.translate.gemini.turns import CLOSED
from tests.support.gateways import gateway
from tests.support.upstream import replayed_calls, upstream_request

CLAUDE = "claude-sonnet-4-5-thinking"
GEMINI = "gemini-3-pro-high"
BASH = {
    "name": "Bash",
    "description": "Executes a bash command.",
    "input_schema": {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "properties": {"command": {"type": "string"}},
        "required": ["command"],
        "additionalProperties": False,
    },
}


class Conversation:
    """Claude Code's side of a conversation: the history it replays, verbatim."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []

    async def turn(
        self, client: anthropic.AsyncAnthropic, model: str, user: Any, stream: bool = True
    ) -> anthropic.types.Message:
        self.messages.append({"role": "user", "content": user})
        args: dict[str, Any] = {
            "model": model,
            "max_tokens": 8192,
            "thinking": {"type": "enabled", "budget_tokens": 2048},
            "tools": [BASH],
            "messages": self.messages,
        }
        if stream:
            async with client.messages.stream(**args) as s:
                message = await s.get_final_message()
        else:
            message = await client.messages.create(**args)
        # The SDK's own content blocks go back as they are (like Claude Code does).
        self.messages.append({"role": "assistant", "content": message.content})
        return message

    async def results(
        self, client: anthropic.AsyncAnthropic, model: str, message: anthropic.types.Message
    ) -> anthropic.types.Message:
        calls = [b for b in message.content if b.type == "tool_use"]
        assert calls, message.content
        return await self.turn(
            client,
            model,
            [{"type": "tool_result", "tool_use_id": c.id, "content": "ok"} for c in calls],
        )


def thought_signatures(request: dict[str, Any]) -> list[str]:
    return [
        p["thoughtSignature"]
        for turn in request["contents"]
        for p in turn["parts"]
        if p.get("thought")
    ]


@pytest.mark.parametrize("model", [CLAUDE, GEMINI])
async def test_three_turn_tool_loop_with_thinking(
    fake: FakeUpstream, config_path: Path, model: str
) -> None:
    talk = Conversation()
    async with gateway(config_path) as gw:
        client = gw.claude
        first = await talk.turn(client, model, "please use Bash now")
        assert [b.type for b in first.content] == ["thinking", "tool_use"]
        assert first.stop_reason == "tool_use"
        family = "claude" if model == CLAUDE else "gemini"
        assert first.content[0].signature.startswith(f"ag2:{family}:")  # type: ignore[union-attr]
        second = await talk.results(client, model, first)
        assert second.stop_reason == "end_turn"
        assert second.content[-1].text.startswith("The tools said:")  # type: ignore[union-attr]
        third = await talk.turn(client, model, "please use Bash again", stream=False)
        assert third.stop_reason == "tool_use"
        fourth = await talk.results(client, model, third)
        assert fourth.stop_reason == "end_turn"
    if model == CLAUDE:
        # The open loop's model turn starts with the signed thinking Claude issued, text intact
        # (the fake checks the text against what it signed); no loop had to be closed.
        for n in (1, 3):
            first_part = upstream_request(fake, n)["contents"][-2]["parts"][0]
            assert first_part["thought"] is True
            assert fake.claude_thinking[first_part["thoughtSignature"]] == first_part["text"]
        assert CLOSED not in str(upstream_request(fake, 3))
    else:
        # Gemini 3 gets each call's own signature back (carried in the tool_use id).
        sigs = [c["thoughtSignature"] for c in replayed_calls(upstream_request(fake, 3))]
        assert len(sigs) == 2 and all(s in fake.issued_signatures for s in sigs)
        assert thought_signatures(upstream_request(fake, 3)) == []  # no thought text replayed


@pytest.mark.parametrize("model", [CLAUDE, GEMINI])
async def test_tool_loop_across_a_gateway_restart(
    fake: FakeUpstream, config_path: Path, model: str
) -> None:
    talk = Conversation()
    async with gateway(config_path) as gw:
        client = gw.claude
        first = await talk.turn(client, model, "please use Bash now")
    async with gateway(config_path) as gw_restarted:  # nothing survives but the client's history
        restarted = gw_restarted.claude
        second = await talk.results(restarted, model, first)
    assert second.stop_reason == "end_turn"
    request = upstream_request(fake, 1)
    if model == CLAUDE:
        assert request["contents"][-2]["parts"][0]["thoughtSignature"] in fake.claude_thinking
    else:
        assert replayed_calls(request)[0]["thoughtSignature"] in fake.issued_signatures


async def test_model_switch_mid_history(fake: FakeUpstream, config_path: Path) -> None:
    talk = Conversation()
    async with gateway(config_path) as gw:
        client = gw.claude
        first = await talk.turn(client, CLAUDE, "please use Bash now")
        # /model gemini with the tool loop open: Claude's thinking is foreign to Gemini.
        second = await talk.results(client, GEMINI, first)
        assert second.stop_reason == "end_turn"
        third = await talk.turn(client, GEMINI, "please use Bash again")
        # /model back to Claude with Gemini's loop open: its thinking is dropped, and the loop
        # is closed so Claude starts a fresh turn, thinking first.
        fourth = await talk.results(client, CLAUDE, third)
        assert fourth.content and fourth.stop_reason in ("end_turn", "tool_use")
        # A direct-Anthropic history (a signature this gateway never issued) is dropped too.
        talk.messages[-3]["content"] = [
            {"type": "thinking", "thinking": "plan", "signature": "EqQBCkYIBxgCKkBsss"},
            *[b for b in talk.messages[-3]["content"] if b.type != "thinking"],
        ]
        fifth = await talk.turn(client, CLAUDE, "go on")
        assert fifth.content
    to_gemini, to_claude = upstream_request(fake, 1), upstream_request(fake, 3)
    assert thought_signatures(to_gemini) == []
    assert [c["thoughtSignature"] for c in replayed_calls(to_gemini)] == [SENTINEL]
    # Claude only ever sees thinking it signed itself: nothing forwarded, nothing fabricated.
    for request in (to_claude, upstream_request(fake, 4)):
        assert all(s in fake.claude_thinking for s in thought_signatures(request))
        for call in replayed_calls(request):
            assert "thoughtSignature" not in call
    assert [p["text"] for p in to_claude["contents"][-2]["parts"]] == [CLOSED]


def gemini_events(model: str, parts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A real Gemini answer's shape: thought parts unsigned, the turn's signature on its call."""
    usage = {"promptTokenCount": 5, "candidatesTokenCount": 3, "totalTokenCount": 8}
    return [bodies.response_event([p], model=model, response_id="r1") for p in parts[:-1]] + [
        bodies.response_event(parts[-1:], model=model, response_id="r1", finish="STOP", usage=usage)
    ]


@pytest.mark.parametrize("stream", [True, False])
async def test_gemini_thinking_is_signed_and_replays(
    fake: FakeUpstream, config_path: Path, stream: bool
) -> None:
    """Gemini signs a turn on its call, not on its thoughts: the thinking block carries that
    signature (never an empty one, which clients drop), and a client that keeps the thinking but
    rewrites tool ids still gives Gemini 3 the call's own signature back."""
    sig = new_signature(fake.issued_signatures)
    call = {"functionCall": {"name": "Bash", "args": {"command": "ls"}}, "thoughtSignature": sig}
    thought = {"text": "Listing first.", "thought": True}
    fake.script(Step(events=gemini_events(GEMINI, [thought, call])))
    talk = Conversation()
    async with gateway(config_path) as gw:
        client = gw.claude
        first = await talk.turn(client, GEMINI, "please use Bash now", stream=stream)
        thinking, tool_use = first.content
        assert thinking.type == "thinking" and thinking.signature == f"ag2:gemini:{sig}"
        # Replayed by a client that drops unsigned thinking and makes its own tool ids.
        talk.messages[-1]["content"] = [thinking, {**tool_use.model_dump(), "id": "toolu_own"}]
        talk.messages.append(
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_own"}]}
        )
        talk.messages.append({"role": "assistant", "content": "done"})
        # A text answer whose thoughts nobody signed: the backend's "unsigned" sentinel.
        fake.script(Step(events=gemini_events(GEMINI, [thought, {"text": "All listed."}])))
        second = await talk.turn(client, GEMINI, "and now?", stream=stream)
        assert second.content[0].signature == f"ag2:gemini:{SENTINEL}"  # type: ignore[union-attr]
        third = await talk.turn(client, GEMINI, "once more", stream=stream)  # all replayed
        assert third.stop_reason == "end_turn"
    replayed = replayed_calls(upstream_request(fake, 2))
    assert [c["thoughtSignature"] for c in replayed] == [sig]
