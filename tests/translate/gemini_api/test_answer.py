"""The Gemini API answer is rendered from the typed events (and ``Reply.meta``): every upstream
response the protocol notes show comes back field for field, in Google's spelling."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from ag2api.translate.gemini.events import Reply
from ag2api.translate.gemini_api.answer import GeminiAnswer
from ag2api.translate.signatures import thinking_key


def response(parts: list[Any], **candidate: Any) -> dict[str, Any]:
    return {
        "candidates": [{"content": {"role": "model", "parts": parts}, **candidate}],
        "modelVersion": "gemini-3-pro-high",
        "responseId": "r1",
    }


GROUNDED = {
    "candidates": [
        {
            "content": {"role": "model", "parts": [{"text": "It rains in Paris."}]},
            "finishReason": "STOP",
            "finishMessage": "done",
            "index": 0,
            "avgLogprobs": -0.25,
            "safetyRatings": [{"category": "HARM_CATEGORY_HARASSMENT", "probability": "LOW"}],
            "citationMetadata": {"citations": [{"startIndex": 0, "uri": "https://a.example"}]},
            "groundingMetadata": {
                "webSearchQueries": ["paris weather"],
                "groundingChunks": [{"web": {"uri": "https://b.example", "title": "B"}}],
                "groundingSupports": [{"segment": {"endIndex": 17}, "groundingChunkIndices": [0]}],
            },
            "urlContextMetadata": {"urlMetadata": []},
        },
        {"content": {"role": "model", "parts": [{"text": "second"}]}, "index": 1},
    ],
    "promptFeedback": {"safetyRatings": []},
    "usageMetadata": {
        "promptTokenCount": 8,
        "candidatesTokenCount": 5,
        "totalTokenCount": 13,
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 8}],
    },
    "modelVersion": "gemini-2.5-flash",
    "responseId": "eBNcat8X5evPsg_lhqyQAg",
    "createTime": "2026-12-01T00:00:00Z",
    "sdkHttpResponse": {"headers": {}},
}


@pytest.mark.parametrize(
    "chunk",
    [
        response([{"text": "Hello"}]),
        response([{"thought": True, "thoughtSignature": "CiQB", "text": ""}]),
        response([{"thought": True, "text": "The user greets me"}, {"text": "hello"}]),
        response([{"text": "hello", "thoughtSignature": "g3-on-text"}]),
        response([{"text": ""}], finishReason="STOP"),
        response([{"text": "Full thinking.", "thought": True}]),
        response([{"text": "", "thoughtSignature": "RtestSig123"}], finishReason="STOP"),
        response(
            [
                {
                    "functionCall": {"name": "run", "args": {"command": "true"}, "id": "c1"},
                    "thoughtSignature": "CiQB",
                },
                {"functionCall": {"name": "run", "args": {}}},
            ],
            finishReason="STOP",
        ),
        response([{"inlineData": {"mimeType": "image/png", "data": "iVBORw0KGgo"}}]),
        response(
            [
                {"executableCode": {"language": "PYTHON", "code": "print(1)"}},
                {"codeExecutionResult": {"outcome": "OUTCOME_OK", "output": "1"}},
                {
                    "fileData": {"mimeType": "text/plain", "fileUri": "gs://x"},
                    "thoughtSignature": "S",
                },
            ]
        ),
        {"promptFeedback": {"blockReason": "SAFETY", "safetyRatings": []}, "responseId": "r2"},
        {"usageMetadata": {"promptTokenCount": 3, "totalTokenCount": 3}},
        GROUNDED,
    ],
)
def test_every_field_of_the_response_comes_back(chunk: dict[str, Any]) -> None:
    sent = copy.deepcopy(chunk)
    answer = GeminiAnswer({})
    assert answer.feed(Reply(chunk)) == [(None, sent)]
    assert answer.whole(Reply(chunk)) == sent


def test_snake_case_parts_come_back_in_googles_spelling() -> None:
    chunk = response(
        [
            {"text": "hmm", "thought": True, "thought_signature": "S1"},
            {"function_call": {"name": "f", "args": {"a": 1}}, "thought_signature": "S2"},
            {"inline_data": {"mime_type": "image/jpeg", "data": "AA"}},
        ]
    )
    [(_, sent)] = GeminiAnswer({}).feed(Reply(chunk))
    assert sent["candidates"][0]["content"]["parts"] == [
        {"text": "hmm", "thought": True, "thoughtSignature": "S1"},
        {"functionCall": {"name": "f", "args": {"a": 1}}, "thoughtSignature": "S2"},
        {"inlineData": {"mimeType": "image/jpeg", "data": "AA"}},
    ]


def test_claude_thinking_is_recorded_by_its_signature_from_the_events() -> None:
    answer = GeminiAnswer({}, claude=True)
    answer.feed(Reply(response([{"text": "step one. ", "thought": True}])))
    answer.feed(Reply(response([{"text": "step two.", "thought": True}])))
    answer.feed(Reply(response([{"text": "", "thoughtSignature": "claude-sig"}])))
    # A call's own signature signs nothing when no thinking is open.
    answer.feed(Reply(response([{"functionCall": {"name": "f"}, "thoughtSignature": "call-sig"}])))
    records = answer.thinking_records()
    assert list(records) == [thinking_key("claude-sig")]
    assert records[thinking_key("claude-sig")].text == "step one. step two."
