"""Gemini responses/chunks → typed events."""

from __future__ import annotations

from typing import Any

import pytest

from ag2api.translate.gemini.events import (
    Blocked,
    Finish,
    Image,
    OtherPart,
    Reply,
    Signature,
    Text,
    Thought,
    ToolCall,
    Usage,
    output_tokens,
    read,
)


def chunk(parts: list[Any], **cand: Any) -> dict[str, Any]:
    return {"candidates": [{"content": {"role": "model", "parts": parts}, **cand}]}


@pytest.mark.parametrize(
    ("part", "events"),
    [
        ({"text": "hi"}, [Text("hi")]),
        ({"text": ""}, [OtherPart({"text": ""})]),  # kept for the Gemini API only
        ({"text": "hmm", "thought": True}, [Thought("hmm")]),
        (
            {"text": "hmm", "thought": True, "thoughtSignature": "S"},
            [Thought("hmm"), Signature("S")],
        ),
        ({"text": "", "thoughtSignature": "S"}, [Signature("S")]),
        ({"thought": True, "thought_signature": "S", "text": ""}, [Signature("S")]),
        (
            {"functionCall": {"name": "f", "args": {"a": 1}, "id": "toolu_1"}},
            [ToolCall("f", {"a": 1}, "toolu_1", None)],
        ),
        (
            {"functionCall": {"name": "f", "args": "oops"}, "thoughtSignature": "S"},
            [ToolCall("f", {}, None, "S")],
        ),
        ({"inlineData": {"mimeType": "image/jpeg", "data": "AA"}}, [Image("image/jpeg", "AA")]),
        ({"inline_data": {"data": "AA"}}, [Image("image/png", "AA")]),
        ("not a part", []),
        ({"executableCode": {"code": "1"}}, [OtherPart({"executableCode": {"code": "1"}})]),
    ],
)
def test_parts(part: Any, events: list[Any]) -> None:
    assert read(chunk([part])) == events


def test_finish_usage_and_block() -> None:
    response = chunk([{"text": "x"}], finishReason="STOP")
    response["usageMetadata"] = {
        "promptTokenCount": 10,
        "cachedContentTokenCount": 4,
        "candidatesTokenCount": 3,
        "thoughtsTokenCount": 2,
        "totalTokenCount": 15,
    }
    response["promptFeedback"] = {"blockReason": "SAFETY"}
    assert read(response) == [Text("x"), Finish("STOP"), Usage(10, 4, 3, 2, 15), Blocked("SAFETY")]


@pytest.mark.parametrize(
    "response",
    [
        {},
        {"candidates": []},
        {"candidates": [None]},
        {"candidates": [{"content": None}]},
        {"usageMetadata": 5},
    ],
)
def test_missing_pieces(response: dict[str, Any]) -> None:
    assert read(response) == []


def test_usage_tolerates_bad_counts_and_output_tokens() -> None:
    assert read({"usageMetadata": {"promptTokenCount": "9", "totalTokenCount": True}}) == [
        Usage(0, 0, 0, 0, 0)
    ]
    assert output_tokens(Usage(10, 0, 3, 2, 15)) == 5
    assert output_tokens(Usage(10, 0, 5, 2, 15)) == 5  # candidates already included thoughts
    assert output_tokens(Usage(10, 0, 5, 0, 0)) == 5


def test_events_are_frozen() -> None:
    with pytest.raises(AttributeError):
        Text("a").text = "b"  # type: ignore[misc]


def test_a_reply_is_read_once_and_only_when_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    from ag2api.translate.gemini import events

    reads: list[dict[str, Any]] = []
    real = events.read
    monkeypatch.setattr(events, "read", lambda body: reads.append(body) or real(body))
    body = chunk([{"text": "hi"}], finishReason="STOP")
    reply = Reply(body)
    assert reply.body is body and reads == []  # passed on as it is: never read
    assert reply.events == [Text("hi"), Finish("STOP")]
    assert reply.events is reply.events and reads == [body]
