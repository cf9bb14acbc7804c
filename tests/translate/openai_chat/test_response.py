"""Gemini → OpenAI: non-stream completion, stream chunks, finish reasons, usage (pure)."""

from __future__ import annotations

from typing import Any

import pytest

from ag2api.translate.dialect import openai_usage as usage
from ag2api.translate.gemini.events import read
from ag2api.translate.openai_chat.answer import to_chat_completion
from ag2api.translate.openai_chat.render import finish_reason
from ag2api.translate.openai_chat.stream import ChatStreamTranslator


def event(
    parts: list[dict[str, Any]], finish: str | None = None, meta: dict[str, int] | None = None
) -> dict[str, Any]:
    cand: dict[str, Any] = {"content": {"role": "model", "parts": parts}}
    if finish:
        cand["finishReason"] = finish
    out: dict[str, Any] = {"candidates": [cand]}
    if meta:
        out["usageMetadata"] = meta
    return out


@pytest.mark.parametrize(
    ("upstream", "calls", "expected"),
    [
        ("STOP", False, "stop"),
        ("MAX_TOKENS", False, "length"),
        ("SAFETY", False, "content_filter"),
        ("RECITATION", False, "content_filter"),
        ("PROHIBITED_CONTENT", False, "content_filter"),
        ("OTHER", False, "stop"),
        (None, False, "stop"),
        ("STOP", True, "tool_calls"),
    ],
)
def test_finish_reasons(upstream: str | None, calls: bool, expected: str) -> None:
    assert finish_reason(upstream, calls) == expected


def test_usage_adds_thoughts_to_completion() -> None:
    u = usage(
        {
            "promptTokenCount": 10,
            "candidatesTokenCount": 1,
            "thoughtsTokenCount": 12,
            "totalTokenCount": 23,
            "cachedContentTokenCount": 4,
        }
    )
    assert u == {
        "prompt_tokens": 10,
        "completion_tokens": 13,
        "total_tokens": 23,
        "prompt_tokens_details": {"cached_tokens": 4},
        "completion_tokens_details": {"reasoning_tokens": 12},
    }


def test_usage_does_not_double_count_when_candidates_include_thoughts() -> None:
    u = usage(
        {
            "promptTokenCount": 10,
            "candidatesTokenCount": 13,
            "thoughtsTokenCount": 12,
            "totalTokenCount": 23,
        }
    )
    assert (u["completion_tokens"], u["total_tokens"]) == (13, 23)


def test_non_stream_completion() -> None:
    resp = event(
        [
            {"text": "hmm", "thought": True, "thoughtSignature": "sig"},
            {"text": "Hel"},
            {"text": "lo"},
        ],
        "STOP",
        {"promptTokenCount": 3, "candidatesTokenCount": 2, "totalTokenCount": 5},
    )
    out = to_chat_completion(read(resp), completion_id="chatcmpl-1", model="m", created=1)
    assert out["choices"] == [
        {
            "index": 0,
            "logprobs": None,
            "finish_reason": "stop",
            "message": {
                "role": "assistant",
                "content": "Hello",
                "refusal": None,
                "reasoning_content": "hmm",
            },
        }
    ]
    assert out["usage"]["total_tokens"] == 5 and out["object"] == "chat.completion"


def test_non_stream_tool_calls() -> None:
    resp = event(
        [
            {"functionCall": {"name": "f", "args": {"a": 1}}, "thoughtSignature": "s"},
            {"functionCall": {"name": "g", "args": {}, "id": "toolu_1"}},
        ],
        "STOP",
    )
    msg = to_chat_completion(read(resp), completion_id="c", model="m", created=1)["choices"][0]
    assert msg["finish_reason"] == "tool_calls"
    calls = msg["message"]["tool_calls"]
    assert msg["message"]["content"] is None
    assert [c["function"] for c in calls] == [
        {"name": "f", "arguments": '{"a":1}'},
        {"name": "g", "arguments": "{}"},
    ]
    assert calls[0]["id"].startswith("call_") and calls[1]["id"] == "toolu_1"


def test_blocked_prompt_is_content_filter() -> None:
    out = to_chat_completion(
        read({"promptFeedback": {"blockReason": "SAFETY"}}), completion_id="c", model="m", created=1
    )
    assert out["choices"][0]["finish_reason"] == "content_filter"


def translate(events: list[dict[str, Any]], include_usage: bool = False) -> list[dict[str, Any]]:
    t = ChatStreamTranslator(
        completion_id="chatcmpl-1", model="m", created=1, include_usage=include_usage
    )
    out: list[dict[str, Any]] = []
    for e in events:
        out.extend(t.feed(read(e)))
    return out + t.finish()


def test_stream_sequence() -> None:
    chunks = translate(
        [
            event([{"text": "", "thought": True, "thoughtSignature": "sig"}]),
            event([{"text": "think", "thought": True}]),
            event([{"text": "Hi"}]),
            event(
                [{"text": ""}],
                "STOP",
                {"promptTokenCount": 1, "candidatesTokenCount": 1, "totalTokenCount": 2},
            ),
        ]
    )
    deltas = [c["choices"][0]["delta"] for c in chunks]
    assert deltas == [
        {"role": "assistant", "content": ""},
        {"reasoning_content": "think"},
        {"content": "Hi"},
        {},
    ]
    assert [c["choices"][0]["finish_reason"] for c in chunks] == [None, None, None, "stop"]
    assert all("usage" not in c for c in chunks)
    assert {c["id"] for c in chunks} == {"chatcmpl-1"}


def test_stream_usage_only_when_asked_and_after_late_usage_event() -> None:
    chunks = translate(
        [
            event([{"text": "Hi"}], "STOP"),
            {
                "usageMetadata": {
                    "promptTokenCount": 4,
                    "candidatesTokenCount": 1,
                    "totalTokenCount": 5,
                }
            },
        ],
        include_usage=True,
    )
    assert all(c["usage"] is None for c in chunks[:-1])
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["total_tokens"] == 5
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"


def test_stream_tool_calls_get_contiguous_indexes() -> None:
    chunks = translate(
        [
            event([{"functionCall": {"name": "a", "args": {"x": 1}}}]),
            event(
                [
                    {"functionCall": {"name": "b", "args": {}}},
                    {"functionCall": {"name": "c", "args": {}}},
                ],
                "STOP",
            ),
        ]
    )
    calls = [
        c["choices"][0]["delta"]["tool_calls"][0]
        for c in chunks
        if "tool_calls" in c["choices"][0]["delta"]
    ]
    assert [c["index"] for c in calls] == [0, 1, 2]
    assert all(c["type"] == "function" and c["id"] for c in calls)
    assert len({c["id"] for c in calls}) == 3
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"


def test_empty_stream_still_sends_role_and_finish() -> None:
    chunks = translate([])
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert chunks[0]["choices"][0]["finish_reason"] == "stop"
