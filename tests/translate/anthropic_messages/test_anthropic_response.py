"""Typed events → the non-stream Anthropic message and the stream's events."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from ag2api.translate.anthropic_messages.answer import to_message
from ag2api.translate.anthropic_messages.request import RequestInfo
from ag2api.translate.anthropic_messages.stream import PING, MessagesStreamTranslator, encode
from ag2api.translate.gemini.events import (
    Blocked,
    Event,
    Finish,
    Image,
    Reply,
    Signature,
    Text,
    Thought,
    ToolCall,
    Usage,
)
from tests.support import anthropic_sse_rules as rules

CLAUDE = RequestInfo(model="claude-sonnet-4-5-thinking", thinking=True)
GEMINI = RequestInfo(model="gemini-3-pro-high")
SIG = base64.b64encode(b"s" * 60).decode()
USAGE = Usage(prompt=100, cached=40, candidates=7, thoughts=5, total=112)

CLAUDE_TOOL_TURN: list[Event] = [
    Thought("Let me "),
    Thought("check."),
    Signature(SIG),
    Text("Checking"),
    Text(" now."),
    ToolCall("Bash", {"command": "ls"}, "toolu_1", None),
    ToolCall("Bash", {"command": "pwd"}, "toolu_2", None),
    Finish("STOP"),
    USAGE,
]


def stream(events: list[Event], info: RequestInfo, batches: int = 1) -> rules.Events:
    tr = MessagesStreamTranslator("claude-opus-5-5", info, "msg_1")
    out: rules.Events = []
    size = max(1, len(events) // batches)
    for i in range(0, len(events), size):
        out += tr.feed(events[i : i + size])
    return out + tr.finish()


def test_non_stream_claude_tool_turn() -> None:
    message = to_message(CLAUDE_TOOL_TURN, model="claude-opus-5-5", info=CLAUDE, message_id="msg_1")
    assert message == {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "claude-opus-5-5",
        "content": [
            {"type": "thinking", "thinking": "Let me check.", "signature": "ag2:claude:" + SIG},
            {"type": "text", "text": "Checking now."},
            {"type": "tool_use", "id": "toolu_1", "name": "Bash", "input": {"command": "ls"}},
            {"type": "tool_use", "id": "toolu_2", "name": "Bash", "input": {"command": "pwd"}},
        ],
        "stop_reason": "tool_use",
        "stop_sequence": None,
        "usage": {
            "input_tokens": 60,
            "output_tokens": 12,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 40,
        },
    }


@pytest.mark.parametrize("batches", [1, 3, 9])
def test_stream_matches_non_stream_and_keeps_the_contract(batches: int) -> None:
    events = stream(CLAUDE_TOOL_TURN, CLAUDE, batches)
    rules.check(events)
    final = rules.final_message(events)
    expected = to_message(
        CLAUDE_TOOL_TURN, model="claude-opus-5-5", info=CLAUDE, message_id="msg_1"
    )
    assert final["content"] == expected["content"]
    assert final["stop_reason"] == "tool_use" and final["usage"] == expected["usage"]
    names = [n for n, _ in events]
    stop = names.index("content_block_stop")
    assert names[stop - 1] == "content_block_delta"
    assert events[stop - 1][1]["delta"] == {
        "type": "signature_delta",
        "signature": "ag2:claude:" + SIG,
    }


def test_stream_event_order() -> None:
    events = stream([Text("hi"), Finish("STOP"), USAGE], GEMINI)
    assert [n for n, _ in events] == [
        "message_start",
        "content_block_start",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    start = events[0][1]["message"]
    assert start["usage"] == {
        "input_tokens": 60,
        "output_tokens": 0,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 40,
    }
    assert events[4][1]["delta"] == {"stop_reason": "end_turn", "stop_sequence": None}


def test_message_start_comes_with_the_first_feed_even_if_empty() -> None:
    tr = MessagesStreamTranslator("m", GEMINI, "msg_1")
    assert [n for n, _ in tr.feed([])] == ["message_start"]
    assert tr.feed([]) == []
    events = tr.feed([]) + tr.finish()
    assert [n for n, _ in events] == ["message_delta", "message_stop"]


def test_finish_without_feed_still_is_a_valid_stream() -> None:
    events = MessagesStreamTranslator("m", GEMINI, "msg_1").finish()
    rules.check(events)


def test_gemini_interleaving_thoughts_text_images() -> None:
    events: list[Event] = [
        Thought("a"),
        Signature("g-sig"),  # Gemini signs its first thought part
        Thought("b"),
        Text("x"),
        Signature("text-sig"),  # a signature on a text part: no block to carry it
        Image("image/png", "AAAA"),
        Thought("c"),
        Text("y"),
        Finish("MAX_TOKENS"),
    ]
    sse = stream(events, GEMINI, 4)
    rules.check(sse)
    final = rules.final_message(sse)
    assert [b["type"] for b in final["content"]] == ["thinking", "text", "text", "thinking", "text"]
    assert final["content"][0] == {
        "type": "thinking",
        "thinking": "ab",
        "signature": "ag2:gemini:g-sig",
    }
    assert final["content"][2]["text"] == "![image](data:image/png;base64,AAAA)"
    # Unsigned Gemini thinking still carries a signature (clients drop unsigned thinking): the
    # backend's own "unsigned" sentinel, in the family's wrapping.
    assert final["content"][3]["signature"] == "ag2:gemini:skip_thought_signature_validator"
    assert final["stop_reason"] == "max_tokens"
    message = to_message(events, model="m", info=GEMINI, message_id="msg_1")
    assert message["content"] == final["content"]


def test_claude_signature_without_thought_text_signs_a_blank_block() -> None:
    events: list[Event] = [Signature(SIG), Text("hello"), Finish("STOP")]
    message = to_message(events, model="m", info=CLAUDE, message_id="msg_1")
    assert message["content"][0] == {
        "type": "thinking",
        "thinking": "",
        "signature": "ag2:claude:" + SIG,
    }
    sse = stream(events, CLAUDE)
    rules.check(sse)
    assert rules.final_message(sse)["content"] == message["content"]


def test_claude_signature_on_the_call_signs_the_open_thinking_block() -> None:
    events: list[Event] = [Thought("plan"), ToolCall("Bash", {}, "toolu_1", SIG), Finish("STOP")]
    message = to_message(events, model="m", info=CLAUDE, message_id="msg_1")
    assert message["content"][0]["signature"] == "ag2:claude:" + SIG
    assert rules.final_message(stream(events, CLAUDE))["content"] == message["content"]


def test_gemini_calls_pack_signatures_and_map_names_back() -> None:
    info = RequestInfo(
        model="gemini-3-pro-high",
        tool_names={"mcp_fs_list": "mcp.fs/list"},
        placeholders=frozenset({"mcp_fs_list"}),
    )
    events: list[Event] = [
        ToolCall("mcp_fs_list", {"reason": "listing", "dir": "."}, None, SIG),
        ToolCall("Bash", {"reason": "kept: not a placeholder tool"}, "fc_1", None),
        Finish("STOP"),
    ]
    message = to_message(events, model="m", info=info, message_id="msg_1")
    first, second = message["content"]
    assert first["name"] == "mcp.fs/list" and first["input"] == {"dir": "."}
    assert "_ag2b_" in first["id"] and first["id"].startswith("toolu_")
    assert second["name"] == "Bash" and second["input"] == {
        "reason": "kept: not a placeholder tool"
    }
    assert "_ag2" not in second["id"]
    sse = stream(events, info)
    rules.check(sse)
    assert [b["input"] for b in rules.final_message(sse)["content"]] == [
        {"dir": "."},
        second["input"],
    ]


@pytest.mark.parametrize(
    ("events", "reason"),
    [
        ([Finish("STOP")], "end_turn"),
        ([Finish("MAX_TOKENS")], "max_tokens"),
        ([Finish("SAFETY")], "refusal"),
        ([Blocked("PROHIBITED_CONTENT")], "refusal"),
        ([Text("x")], "end_turn"),
        ([ToolCall("f", {}, "t", None), Finish("MAX_TOKENS")], "tool_use"),
    ],
)
def test_stop_reasons(events: list[Event], reason: str) -> None:
    assert to_message(events, model="m", info=CLAUDE, message_id="i")["stop_reason"] == reason
    assert stream(events, CLAUDE)[-2][1]["delta"]["stop_reason"] == reason


def test_usage_candidates_already_including_thoughts_is_not_doubled() -> None:
    u = Usage(prompt=10, cached=0, candidates=12, thoughts=5, total=22)
    assert to_message([u], model="m", info=CLAUDE, message_id="i")["usage"]["output_tokens"] == 12


def test_stream_usage_for_the_log_and_encoding() -> None:
    tr = MessagesStreamTranslator("m", GEMINI, "msg_1")
    tr.feed([Text("a"), USAGE])
    assert tr.usage()["input_tokens"] == 60
    assert encode(PING) == b'event: ping\ndata: {"type":"ping"}\n\n'
    raw = b"".join(encode(e) for e in stream([Text("hi"), Finish("STOP")], GEMINI))
    rules.check(rules.parse(raw))


BROKEN: dict[str, rules.Events] = {
    "no message_start": [("message_stop", {"type": "message_stop"})],
    "gap in indexes": [
        (
            "message_start",
            {
                "type": "message_start",
                "message": {
                    "type": "message",
                    "role": "assistant",
                    "content": [],
                    "stop_reason": None,
                    "usage": {"input_tokens": 1, "output_tokens": 0},
                },
            },
        ),
        (
            "content_block_start",
            {
                "type": "content_block_start",
                "index": 1,
                "content_block": {"type": "text", "text": ""},
            },
        ),
    ],
}


def _start() -> tuple[str | None, dict[str, Any]]:
    return BROKEN["gap in indexes"][0]


def _text_block(index: int, stop_twice: bool = False) -> rules.Events:
    out: rules.Events = [
        (
            "content_block_start",
            {
                "type": "content_block_start",
                "index": index,
                "content_block": {"type": "text", "text": ""},
            },
        ),
        (
            "content_block_delta",
            {
                "type": "content_block_delta",
                "index": index,
                "delta": {"type": "text_delta", "text": "x"},
            },
        ),
        ("content_block_stop", {"type": "content_block_stop", "index": index}),
    ]
    return out + out[-1:] if stop_twice else out


END: rules.Events = [
    (
        "message_delta",
        {
            "type": "message_delta",
            "delta": {"stop_reason": "end_turn"},
            "usage": {"output_tokens": 1},
        },
    ),
    ("message_stop", {"type": "message_stop"}),
]


@pytest.mark.parametrize(
    "events",
    [
        BROKEN["no message_start"],
        BROKEN["gap in indexes"] + END,
        [_start(), *_text_block(0, stop_twice=True), *END],
        [_start(), *_text_block(0), *_text_block(0), *END],
        [_start(), *_text_block(0)],  # no message_stop
        [_start(), *_text_block(0), ("message_stop", {"type": "message_stop"})],
        [
            _start(),
            (
                "content_block_start",
                {
                    "type": "content_block_start",
                    "index": 0,
                    "content_block": {"type": "thinking", "thinking": "", "signature": ""},
                },
            ),
            (
                "content_block_delta",
                {
                    "type": "content_block_delta",
                    "index": 0,
                    "delta": {"type": "thinking_delta", "thinking": "t"},
                },
            ),
            ("content_block_stop", {"type": "content_block_stop", "index": 0}),
            *END,
        ],  # thinking without signature_delta
        [_start(), ("ping", {"type": "message_stop"}), *END],  # event name ≠ data.type
    ],
)
def test_the_checker_catches_broken_streams(events: rules.Events) -> None:
    with pytest.raises(AssertionError):
        rules.check(events)


def test_the_checker_accepts_pings_and_error_endings() -> None:
    events = [
        PING,
        _start(),
        PING,
        *_text_block(0),
        ("error", {"type": "error", "error": {"type": "overloaded_error", "message": "x"}}),
    ]
    rules.check(events, complete=False)
    with pytest.raises(AssertionError):
        rules.check(events)


def test_answer_adapter_stream_whole_and_usage() -> None:
    from ag2api.translate.anthropic_messages.answer import MessagesAnswer

    chunks: list[dict[str, Any]] = [
        {"candidates": [{"content": {"parts": [{"text": "plan", "thought": True}]}}]},
        {"candidates": [{"content": {"parts": [{"text": "", "thoughtSignature": SIG}]}}]},
        {
            "candidates": [{"content": {"parts": [{"text": "hi"}]}, "finishReason": "STOP"}],
            "usageMetadata": {
                "promptTokenCount": 100,
                "cachedContentTokenCount": 40,
                "candidatesTokenCount": 7,
                "thoughtsTokenCount": 5,
                "totalTokenCount": 112,
            },
        },
    ]
    answer = MessagesAnswer("claude-opus-5-5", CLAUDE, "msg_1")
    sse = [e for c in chunks for e in answer.feed(Reply(c))] + answer.finish()
    rules.check(sse)
    merged = {
        "candidates": [
            {
                "content": {
                    "parts": [p for c in chunks for p in c["candidates"][0]["content"]["parts"]]
                },
                "finishReason": "STOP",
            }
        ],
        "usageMetadata": chunks[-1]["usageMetadata"],
    }
    whole = MessagesAnswer("claude-opus-5-5", CLAUDE, "msg_1").whole(Reply(merged))
    assert rules.final_message(sse)["content"] == whole["content"]
    assert whole["usage"]["cache_read_input_tokens"] == 40
    assert answer.usage() == {
        "prompt_tokens": 100,
        "completion_tokens": 12,
        "total_tokens": 112,
        "prompt_tokens_details": {"cached_tokens": 40},
        "completion_tokens_details": {"reasoning_tokens": 5},
    }
    assert answer.thinking_records() == {}
