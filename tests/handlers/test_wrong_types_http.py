"""Wrong types found by fuzzing, over HTTP: a 400 in the API's own shape before any upstream call
(every dialect's reader is fuzzed in ``tests/translate/test_wrong_types.py``)."""

from __future__ import annotations

import json
from typing import Any

import openai
import pytest

from ag2api.testing.fake_upstream import FakeUpstream
from tests.support.clients import API_KEY
from tests.support.http import fetch


def generations(fake: FakeUpstream) -> int:
    return len(fake.generate_requests())


async def post_gemini(base_url: str, model: str, body: dict[str, Any]) -> tuple[int, Any]:
    answer = await fetch(
        f"{base_url}/v1beta/models/{model}:streamGenerateContent?alt=sse",
        body=body,
        headers={"x-goog-api-key": API_KEY},
    )
    text = answer.body.decode()
    return answer.code, json.loads(text) if answer.code != 200 else text


@pytest.mark.parametrize("text", [123, ["a"], {"a": 1}, True])
async def test_a_gemini_part_of_the_wrong_type_is_a_400_naming_it(
    base_url: str, fake: FakeUpstream, text: Any
) -> None:
    body = {"contents": [{"role": "user", "parts": [{"text": text}]}]}
    code, error = await post_gemini(base_url, "gemini-2.5-flash", body)
    assert code == 400 and error["error"]["status"] == "INVALID_ARGUMENT"
    violations = [v for d in error["error"]["details"] for v in d.get("fieldViolations", ())]
    assert violations[0]["field"] == "contents[0].parts[0].text"
    assert generations(fake) == 0


async def test_null_generation_fields_are_absent(base_url: str, fake: FakeUpstream) -> None:
    """Claude's thinking rules compare topP; a null one is no value (it used to be a 500)."""
    body = {
        "contents": [{"role": "user", "parts": [{"text": "hi"}]}],
        "generationConfig": {
            "topP": None,
            "temperature": None,
            "thinkingConfig": {"includeThoughts": True, "thinkingBudget": 1024},
        },
    }
    code, _ = await post_gemini(base_url, "claude-sonnet-4-5-thinking", body)
    assert code == 200
    sent = fake.generate_requests()[0].body["request"]["generationConfig"]
    assert "topP" not in sent and "temperature" not in sent


@pytest.mark.parametrize("stream", [False, True])
async def test_a_responses_item_type_of_the_wrong_type_is_a_400_before_the_call(
    client: openai.AsyncOpenAI,
    fake: FakeUpstream,
    request_lines: list[dict[str, Any]],
    stream: bool,
) -> None:
    """It used to fail once the answer was stored: after the upstream call was made and billed,
    as a 500 (or, streamed, a response.failed logged as 200)."""
    item: Any = {"type": ["x"], "role": "user", "content": "hi"}
    with pytest.raises(openai.BadRequestError) as info:
        await client.responses.create(model="gemini-2.5-flash", input=[item], stream=stream)
    assert info.value.status_code == 400 and info.value.param == "input"
    assert "input[0].type" in info.value.message
    assert generations(fake) == 0
    assert [line["status"] for line in request_lines if line["path"] == "/v1/responses"] == [400]
