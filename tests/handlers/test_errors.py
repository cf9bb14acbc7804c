"""Client errors: every one OpenAI-shaped with the right status, raised by the real SDK."""

from __future__ import annotations

import json
from typing import Any

import openai
import pytest

from ag2api.testing.fake_upstream import FakeUpstream
from tests.support.clients import API_KEY
from tests.support.http import fetch

MSG = [{"role": "user", "content": "hi"}]


def assert_openai_error(body: dict[str, Any], code: str | None) -> None:
    assert set(body["error"]) == {"message", "type", "param", "code"}
    assert body["error"]["code"] == code


async def test_missing_and_wrong_key_are_401(
    client: openai.AsyncOpenAI, base_url: str, fake: FakeUpstream
) -> None:
    bad = client.with_options(api_key="sk-wrong")
    with pytest.raises(openai.AuthenticationError) as info:
        await bad.chat.completions.create(model="gemini-2.5-flash", messages=MSG)
    assert_openai_error(info.value.body and {"error": info.value.body}, "invalid_api_key")
    assert info.value.request_id and info.value.request_id.startswith("req_")
    response = await fetch(base_url + "/v1/chat/completions", "POST", b"{}", {"Authorization": ""})
    assert response.code == 401
    assert fake.generate_requests() == []


async def test_x_api_key_header_is_accepted(base_url: str) -> None:
    body = json.dumps({"model": "gemini-2.5-flash", "messages": MSG}).encode()
    response = await fetch(
        base_url + "/v1/chat/completions", body=body, headers={"x-api-key": API_KEY}
    )
    assert response.code == 200, response.body


@pytest.mark.parametrize(
    ("body", "param", "code"),
    [
        (b"{not json", None, "invalid_json"),
        (b"", None, "invalid_json"),
        (b"[1, 2]", None, None),
        (b'{"model": "gemini-2.5-flash", "messages": []}', "messages", None),
        (
            b'{"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": "x"}], '
            b'"temperature": 3}',
            "temperature",
            None,
        ),
        (
            b'{"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": "x"}], '
            b'"stream": "yes"}',
            "stream",
            None,
        ),
        (b'{"model": 5, "messages": [{"role": "user", "content": "x"}]}', "model", None),
    ],
)
async def test_bad_bodies_are_400_naming_the_param(
    base_url: str, body: bytes, param: str | None, code: str | None
) -> None:
    response = await fetch(base_url + "/v1/chat/completions", "POST", body, key=API_KEY)
    assert response.code == 400
    assert response.headers["Content-Type"] == "application/json"
    assert response.headers["x-should-retry"] == "false"
    error = json.loads(response.body)
    assert_openai_error(error, code)
    assert error["error"]["type"] == "invalid_request_error"
    assert error["error"]["param"] == param


async def test_sdk_sees_bad_request_with_param(client: openai.AsyncOpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        await client.chat.completions.create(model="gemini-2.5-flash", messages=MSG, n=2)
    assert info.value.param == "n"
    with pytest.raises(openai.BadRequestError) as info:
        await client.chat.completions.create(
            model="gemini-2.5-flash", messages=MSG, stream=True, temperature=3
        )
    assert info.value.param == "temperature"


async def test_unknown_model_is_404_model_not_found(
    client: openai.AsyncOpenAI, fake: FakeUpstream
) -> None:
    with pytest.raises(openai.NotFoundError) as info:
        await client.chat.completions.create(model="gpt-9", messages=MSG)
    assert info.value.code == "model_not_found" and info.value.param == "model"
    with pytest.raises(openai.NotFoundError) as info:
        await client.models.retrieve("gpt-9")
    assert info.value.code == "model_not_found"
    assert fake.generate_requests() == []


async def test_upstream_not_found_is_404_model_not_found(
    client: openai.AsyncOpenAI, fake: FakeUpstream
) -> None:
    # Listed when the catalog was fetched, gone from the backend since.
    fake.models["gemini-retired"] = {}
    assert "gemini-retired" in [m.id async for m in client.models.list()]
    del fake.models["gemini-retired"]
    with pytest.raises(openai.NotFoundError) as info:
        await client.chat.completions.create(model="gemini-retired", messages=MSG)
    assert info.value.code == "model_not_found"


async def test_oversized_body_gets_a_json_413(base_url: str) -> None:
    body = b'{"model": "gemini-2.5-flash", "pad": "' + b"x" * (60 * 1024 * 1024) + b'"}'
    response = await fetch(
        base_url + "/v1/chat/completions", "POST", body, key=API_KEY, request_timeout=60
    )
    assert response.code == 413
    assert_openai_error(json.loads(response.body), "request_too_large")


@pytest.mark.parametrize("config_overrides", [{"server": {"max_body_bytes": 2048}}])
async def test_body_limit_is_configurable(
    client: openai.AsyncOpenAI, config_overrides: dict[str, Any]
) -> None:
    with pytest.raises(openai.APIStatusError) as info:
        await client.chat.completions.create(
            model="gemini-2.5-flash", messages=[{"role": "user", "content": "x" * 4096}]
        )
    assert info.value.status_code == 413
    assert (await client.chat.completions.create(model="gemini-2.5-flash", messages=MSG)).choices


async def test_unknown_path_and_method_are_json(base_url: str) -> None:
    response = await fetch(
        base_url + "/v1/assistants", "POST", b"{}", key=API_KEY
    )  # an OpenAI route ag2api lacks
    assert response.code == 404
    assert_openai_error(json.loads(response.body), "not_found")
    response = await fetch(base_url + "/v1/models", "POST", b"{}", key=API_KEY)
    assert response.code == 405
    assert_openai_error(json.loads(response.body), "method_not_allowed")


async def test_unknown_fields_never_cause_5xx(client: openai.AsyncOpenAI) -> None:
    completion = await client.chat.completions.create(
        model="gemini-2.5-flash",
        messages=MSG,
        user="u",
        metadata={"a": "b"},
        seed=3,
        parallel_tool_calls=False,
        extra_body={"foo": 1, "bar": {"x": [1]}},
    )
    assert completion.choices[0].finish_reason == "stop"
