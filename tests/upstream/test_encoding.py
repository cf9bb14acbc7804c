"""upstream.gzip: what the gateway asks the upstream for, live from the config."""

from __future__ import annotations

from typing import Any

import openai
import pytest

from ag2api.testing.fake_upstream import FakeUpstream
from tests.support.helpers import MSG


def accept_encoding(fake: FakeUpstream) -> str:
    headers = {k.lower(): v for k, v in fake.generate_requests()[-1].headers.items()}
    return headers.get("accept-encoding", "")


async def test_identity_by_default(client: openai.AsyncOpenAI, fake: FakeUpstream) -> None:
    await client.chat.completions.create(model="gemini-2.5-flash", messages=MSG)
    assert accept_encoding(fake) == "identity"
    stream = await client.chat.completions.create(
        model="gemini-2.5-flash", messages=MSG, stream=True
    )
    assert [c async for c in stream]
    assert accept_encoding(fake) == "identity"


@pytest.mark.parametrize("config_overrides", [{"upstream": {"gzip": True}}])
async def test_gzip_when_configured(
    client: openai.AsyncOpenAI, fake: FakeUpstream, config_overrides: dict[str, Any]
) -> None:
    stream = await client.chat.completions.create(
        model="gemini-2.5-flash", messages=MSG, stream=True
    )
    text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
    assert text
    assert accept_encoding(fake) == "gzip"
