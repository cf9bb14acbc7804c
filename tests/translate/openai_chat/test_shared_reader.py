"""The chat translators render the shared reader's events (``translate/gemini``), so every part
shape the reader knows reaches OpenAI clients too — here the snake_case spellings
(``function_call``, ``thought_signature``, ``inline_data``)."""

from __future__ import annotations

import json
from typing import Any

from ag2api.translate.gemini.events import read
from ag2api.translate.openai_chat.answer import to_chat_completion
from ag2api.translate.openai_chat.stream import ChatStreamTranslator
from ag2api.translate.signatures import decode_call_id

SIG = "c2lnbmVkIHRob3VnaHQ="
PARTS: list[dict[str, Any]] = [
    {"text": "Let me look."},
    {"function_call": {"name": "lookup", "args": {"q": "x"}}, "thought_signature": SIG},
    {"inline_data": {"mime_type": "image/jpeg", "data": "QUJD"}},
]
RESPONSE = {"candidates": [{"content": {"parts": PARTS}, "finishReason": "STOP"}]}


def test_non_stream_reads_snake_case_parts() -> None:
    message = to_chat_completion(
        read(RESPONSE), completion_id="c", model="gemini-3-pro", created=0
    )["choices"][0]["message"]
    (call,) = message["tool_calls"]
    assert call["function"] == {"name": "lookup", "arguments": '{"q":"x"}'}
    assert decode_call_id(call["id"])[1] == SIG
    assert message["images"][0]["image_url"]["url"] == "data:image/jpeg;base64,QUJD"


def test_stream_reads_snake_case_parts() -> None:
    stream = ChatStreamTranslator(
        completion_id="c", model="gemini-3-pro", created=0, include_usage=False
    )
    chunks = stream.feed(read(RESPONSE)) + stream.finish()
    deltas = [c["choices"][0]["delta"] for c in chunks]
    (call,) = [t for d in deltas for t in d.get("tool_calls", ())]
    assert json.loads(call["function"]["arguments"]) == {"q": "x"}
    assert decode_call_id(call["id"])[1] == SIG
    assert [d["images"][0]["image_url"]["url"] for d in deltas if "images" in d] == [
        "data:image/jpeg;base64,QUJD"
    ]
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"
