"""Codex's remote compaction (remote_compaction_v2) served by the model: a request ending with
``compaction_trigger`` asks for a summary with the tools off and is answered with exactly one
``compaction`` item; that item, sent back later, becomes a user turn holding the summary."""

from __future__ import annotations

from typing import Any

import pytest

from ag2api.translate.dialect import TranslationContext
from ag2api.translate.gemini.events import Finish, Reply, Text, Thought, ToolCall, Usage
from ag2api.translate.openai_responses import compaction, memory
from ag2api.translate.openai_responses.dialect import translate
from tests.support.responses_sse_rules import check

FN = {"type": "function", "name": "exec_command", "parameters": {"type": "object"}}
HISTORY: list[dict[str, Any]] = [
    {"type": "message", "role": "developer", "content": "You are a coding agent."},
    {"type": "message", "role": "user", "content": "fix the failing test"},
    {"type": "function_call", "call_id": "c1", "name": "exec_command", "arguments": "{}"},
    {"type": "function_call_output", "call_id": "c1", "output": "1 failed"},
    {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "ok"}]},
]


def ctx(model: str) -> TranslationContext:
    return TranslationContext(model, model, None, None, 1700000000)


def trigger_body() -> dict[str, Any]:
    return {
        "model": "m",
        "stream": True,
        "tools": [FN],
        "tool_choice": "auto",
        "input": [*HISTORY, {"type": compaction.TRIGGER}],
    }


@pytest.mark.parametrize("model", ["gemini-3-pro-high", "claude-sonnet-4-5-thinking"])
def test_a_trigger_asks_for_a_summary_with_the_tools_off(model: str) -> None:
    t = translate(trigger_body(), ctx(model))
    request = t.request
    assert request["contents"][-1]["role"] == "user"
    assert request["contents"][-1]["parts"][-1] == {"text": compaction.PROMPT}
    # Declared (the history's calls need them), but not callable.
    assert request["tools"][0]["functionDeclarations"][0]["name"] == "exec_command"
    assert request["toolConfig"]["functionCallingConfig"]["mode"] == "NONE"
    events = t.answer.feed(
        Reply(
            {
                "candidates": [{"content": {"parts": [{"text": "thinking", "thought": True}]}}],
            }
        )
    )
    events += t.answer.feed(
        Reply(
            {
                "candidates": [
                    {
                        "content": {
                            "parts": [{"text": "The user wants "}, {"text": "the test fixed."}]
                        }
                    }
                ]
            }
        )
    )
    events += t.answer.feed(
        Reply(
            {
                "candidates": [{"content": {"parts": []}, "finishReason": "STOP"}],
                "usageMetadata": {"promptTokenCount": 90, "candidatesTokenCount": 9},
            }
        )
    )
    events += t.answer.finish()
    response = check(events)
    assert response["status"] == "completed"
    done = [data["item"] for name, data in events if name == "response.output_item.done"]
    assert [item["type"] for item in done] == ["compaction"]  # exactly one, nothing else
    assert response["output"] == done and response["usage"]["input_tokens"] == 90
    assert compaction.unpack(done[0]["encrypted_content"]) == "The user wants the test fixed."


def test_no_summary_is_a_failure_not_an_empty_compaction() -> None:
    answer = translate(trigger_body(), ctx("gemini-2.5-flash")).answer
    events = answer.feed(
        Reply(
            {"candidates": [{"content": {"parts": [{"text": "only a thought", "thought": True}]}}]}
        )
    )
    response = check(events + answer.finish())
    assert response["status"] == "failed" and response["output"] == []


def test_the_compaction_item_comes_back_as_the_summary() -> None:
    item = {"type": "compaction", "id": "cmp_1", "encrypted_content": compaction.pack("S U M")}
    body = {"model": "m", "input": [item, {"role": "user", "content": "go on"}]}
    request = translate(body, ctx("gemini-2.5-flash")).request
    texts = [p["text"] for p in request["contents"][0]["parts"]]
    assert texts == [compaction.SUMMARY_INTRO + "S U M", "go on"]
    # OpenAI's own (encrypted) compaction state means nothing here: skipped, never a 400.
    foreign = {"type": "compaction", "encrypted_content": "gAAAAABo-openai-state"}
    body = {"model": "m", "input": [foreign, {"role": "user", "content": "go on"}]}
    request = translate(body, ctx("gemini-2.5-flash")).request
    assert request["contents"] == [{"role": "user", "parts": [{"text": "go on"}]}]


@pytest.mark.parametrize(
    "value",
    [None, 7, "", "ag2api.compaction.v1:***", "ag2api.compaction.v1:" + "A" * 8, "other:abc"],
)
def test_unpack_refuses_what_is_not_a_summary_of_ours(value: object) -> None:
    assert compaction.unpack(value) is None


def test_pack_round_trips_and_bounds_what_it_inflates() -> None:
    text = "résumé ✓ " * 1000
    assert compaction.unpack(compaction.pack(text)) == text
    bomb = compaction.pack("x" * (2 << 20))  # compresses to a few KB, inflates past the cap
    assert len(bomb) < 10_000 and compaction.unpack(bomb) is None


def test_events_other_than_text_are_left_out() -> None:
    answer = translate(trigger_body(), ctx("gemini-2.5-flash")).answer
    stream = answer._stream  # the machine itself, fed typed events
    events = stream.feed([Thought("t"), ToolCall("exec_command", {}, "c9", None), Text("sum")])
    events += stream.feed([Finish("MAX_TOKENS"), Usage.of({"promptTokenCount": 3})])
    response = check(events + stream.finish())
    assert response["status"] == "completed"  # a cut summary still beats none
    assert compaction.unpack(response["output"][0]["encrypted_content"]) == "sum"


def test_only_a_last_trigger_asks_and_a_stored_one_is_not_repeated() -> None:
    # A trigger that is not the last item (replayed from a stored conversation) asks nothing.
    body = {
        "model": "m",
        "input": [{"type": compaction.TRIGGER}, {"role": "user", "content": "hi"}],
    }
    t = translate(body, ctx("gemini-2.5-flash"))
    assert "toolConfig" not in t.request and t.request["contents"][-1]["parts"] == [{"text": "hi"}]
    assert type(t.answer._stream).__name__ == "ResponsesStream"
    # What store keeps of a compaction request continues without the trigger.
    asked = {**trigger_body(), "store": True}
    answer = translate(asked, ctx("gemini-2.5-flash")).answer
    answer.feed(
        Reply({"candidates": [{"content": {"parts": [{"text": "sum"}]}, "finishReason": "STOP"}]})
    )
    answer.finish()
    kept = memory.keep(asked, answer)
    assert kept is not None
    assert [i["type"] for i in kept[1]["input"]] == [
        "message",
        "message",
        "function_call",
        "function_call_output",
        "message",
    ]


def test_claude_compacts_an_open_tool_loop_without_continuing_it() -> None:
    """History ending in a tool result on a thinking Claude model: thinking is off for the
    summary, so no unsigned loop is closed with "[Continue]"; the prompt comes last."""
    body = {
        **trigger_body(),
        "reasoning": {"effort": "high", "summary": "auto"},
        "input": [*HISTORY[:4], {"type": compaction.TRIGGER}],
    }
    t = translate(body, ctx("claude-sonnet-4-5-thinking"))
    request = t.request
    assert "thinkingConfig" not in request.get("generationConfig", {})
    last = request["contents"][-1]
    assert last["role"] == "user" and last["parts"][-1] == {"text": compaction.PROMPT}
    assert "functionResponse" in last["parts"][0]  # the prompt follows the tool result
    texts = [p.get("text") for c in request["contents"] for p in c["parts"]]
    assert "[Continue]" not in texts


def test_web_search_is_off_and_allowed_tools_keep_every_declaration() -> None:
    body = {
        **trigger_body(),
        "tools": [FN, {"type": "function", "name": "other", "parameters": {"type": "object"}}],
        "tool_choice": {
            "type": "allowed_tools",
            "mode": "auto",
            "tools": [{"type": "function", "name": "other"}],
        },
    }
    request = translate(body, ctx("gemini-2.5-flash")).request
    names = [d["name"] for d in request["tools"][0]["functionDeclarations"]]
    assert names == ["exec_command", "other"]
    alone = {**trigger_body(), "tools": [{"type": "web_search"}]}
    request = translate(alone, ctx("gemini-2.5-flash")).request
    assert "googleSearch" not in str(request.get("tools"))


def test_a_filtered_answer_is_no_compaction() -> None:
    answer = translate(trigger_body(), ctx("gemini-2.5-flash")).answer
    events = answer.feed(
        Reply(
            {
                "candidates": [
                    {"content": {"parts": [{"text": "partial"}]}, "finishReason": "SAFETY"}
                ]
            }
        )
    )
    response = check(events + answer.finish())
    assert response["status"] == "failed" and response["output"] == []
