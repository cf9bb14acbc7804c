"""Images in (data URLs, fetched URLs with limits) and out (image models, Images API)."""

from __future__ import annotations

import base64
from typing import Any

import openai
import pytest

from ag2api.testing.fake_model import PNG_B64
from ag2api.testing.fake_upstream import FakeUpstream

DATA_URL = f"data:image/png;base64,{PNG_B64}"


def image_message(url: str) -> list[dict[str, Any]]:
    return [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "what is this?"},
                {"type": "image_url", "image_url": {"url": url, "detail": "low"}},
            ],
        }
    ]


async def ask(client: openai.AsyncOpenAI, url: str) -> str:
    done = await client.chat.completions.create(
        model="gemini-2.5-flash", messages=image_message(url)
    )
    return done.choices[0].message.content or ""


async def test_data_url_image_reaches_the_model(
    client: openai.AsyncOpenAI, fake: FakeUpstream
) -> None:
    assert (await ask(client, DATA_URL)).endswith("I see 1 image(s): image/png.")
    part = fake.generate_requests()[-1].body["request"]["contents"][0]["parts"][1]
    assert part == {"inlineData": {"mimeType": "image/png", "data": PNG_B64}}


async def test_malformed_data_url_is_400(client: openai.AsyncOpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        await ask(client, "data:image/png;base64")
    assert info.value.param == "messages" and "content[1]" in info.value.message


LOOPBACK_OK = {"images": {"allow_private": True, "max_bytes": 1024 * 1024}}


@pytest.mark.parametrize("config_overrides", [LOOPBACK_OK])
async def test_remote_image_is_fetched_and_inlined(
    client: openai.AsyncOpenAI, fake: FakeUpstream, config_overrides: dict[str, Any]
) -> None:
    assert (await ask(client, fake.url + "/files/cat.png")).endswith("image(s): image/png.")
    assert (await ask(client, fake.url + "/files/moved.png")).endswith("image(s): image/png.")
    part = fake.generate_requests()[-1].body["request"]["contents"][0]["parts"][1]
    assert base64.b64decode(part["inlineData"]["data"]) == base64.b64decode(PNG_B64)


@pytest.mark.parametrize("config_overrides", [LOOPBACK_OK])
@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("page.html", "not an image"),
        ("huge.png", "larger than 1048576 bytes"),
        ("missing.png", "HTTP 404"),
    ],
)
async def test_remote_image_limits(
    client: openai.AsyncOpenAI,
    fake: FakeUpstream,
    name: str,
    reason: str,
    config_overrides: dict[str, Any],
) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        await ask(client, f"{fake.url}/files/{name}")
    assert reason in info.value.message and info.value.param == "messages"


async def test_private_addresses_are_refused_by_default(
    client: openai.AsyncOpenAI, fake: FakeUpstream
) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        await ask(client, fake.url + "/files/cat.png")
    assert "non-public address (127.0.0.1); refused" in info.value.message
    assert fake.generate_requests() == []


async def test_image_model_answers_with_an_image(
    client: openai.AsyncOpenAI, fake: FakeUpstream
) -> None:
    done = await client.chat.completions.create(
        model="gemini-3-pro-image",
        messages=[{"role": "system", "content": "ignored"}, {"role": "user", "content": "a cat"}],
    )
    message = done.choices[0].message
    assert message.content == f"Here is a cat.![image]({DATA_URL})"
    assert message.images == [
        {
            "type": "image_url",
            "index": 0,  # type: ignore[attr-defined]
            "image_url": {"url": DATA_URL},
        }
    ]
    sent = fake.generate_requests()[-1].body
    assert sent["requestType"] == "image_gen"
    assert "systemInstruction" not in sent["request"]
    assert sent["request"]["generationConfig"] == {
        "candidateCount": 1,
        "responseModalities": ["TEXT", "IMAGE"],
        "imageConfig": {"aspectRatio": "1:1", "imageSize": "1K"},
    }
    stream = await client.chat.completions.create(
        model="gemini-3-pro-image", stream=True, messages=[{"role": "user", "content": "a dog"}]
    )
    text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
    assert text.endswith(f"![image]({DATA_URL})")


async def test_images_api_generates_b64_json(
    client: openai.AsyncOpenAI, fake: FakeUpstream
) -> None:
    result = await client.images.generate(
        model="gemini-3-pro-image", prompt="a cat", n=2, size="1792x1024", quality="hd"
    )
    assert len(result.data) == 2
    assert all(base64.b64decode(d.b64_json or "") == base64.b64decode(PNG_B64) for d in result.data)
    assert result.data[0].revised_prompt == "Here is a cat."
    config = fake.generate_requests()[-1].body["request"]["generationConfig"]["imageConfig"]
    assert config == {"aspectRatio": "16:9", "imageSize": "2K"}
    as_url = await client.images.generate(
        model="gemini-3-pro-image", prompt="a cat", response_format="url"
    )
    assert as_url.data[0].url == DATA_URL


async def test_images_api_rejects_text_models_and_bad_sizes(client: openai.AsyncOpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        await client.images.generate(model="gemini-2.5-flash", prompt="a cat")
    assert info.value.param == "model"
    with pytest.raises(openai.BadRequestError) as info:
        await client.images.generate(model="gemini-3-pro-image", prompt="a cat", size="7x7")
    assert info.value.param == "size"
