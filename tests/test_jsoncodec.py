"""The fast JSON codec and its standard-library fallback agree."""

from __future__ import annotations

import pytest

from ag2api import jsoncodec

SAMPLES = [
    {
        "id": "chatcmpl-1",
        "choices": [
            {"index": 0, "delta": {"content": "héllo ✓"}, "logprobs": None, "finish_reason": None}
        ],
    },
    {"n": 2**62, "f": 0.5, "t": True, "list": [1, "two", None], "nested": {"a": {"b": []}}},
]


@pytest.mark.parametrize("value", SAMPLES)
def test_both_codecs_give_the_same_compact_json(value: object) -> None:
    assert jsoncodec.dumps_bytes(value) == jsoncodec.stdlib_dumps_bytes(value)
    assert jsoncodec.loads(jsoncodec.stdlib_dumps_bytes(value)) == value
    assert jsoncodec.stdlib_loads(jsoncodec.dumps_bytes(value)) == value


def test_invalid_json_raises_value_error_with_either_codec() -> None:
    for loads in (jsoncodec.loads, jsoncodec.stdlib_loads):
        with pytest.raises(ValueError):
            loads(b"{not json")


def test_the_fast_codec_is_in_use() -> None:
    assert jsoncodec.BACKEND == "orjson"
