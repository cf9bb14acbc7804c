"""Soak: 300 concurrent streams while the upstream injects random faults."""

from __future__ import annotations

import asyncio
import json
import random
from collections import Counter
from pathlib import Path
from typing import Any

import openai
import pytest

from ag2api.accounts.store import parse_tokens
from ag2api.services import Services
from ag2api.testing import fake_bodies as bodies
from ag2api.testing.fake_upstream import FakeUpstream, Step

STREAMS = 300
FAULTS = [
    Step(status=429, body=bodies.RATE_LIMITED),
    Step(status=503, body=bodies.CAPACITY),
    Step(status=500, body=bodies.INTERNAL),
    Step(drop_after=2),  # connection lost mid-stream
    Step(stall_after=3),  # silence until the idle timeout
]


@pytest.mark.timeout(seconds=120)
@pytest.mark.parametrize(
    "config_overrides", [{"upstream": {"timeouts": {"idle": 1}}, "limits": {"per_account": 32}}]
)
async def test_soak_every_request_ends_cleanly(
    client: openai.AsyncOpenAI,
    fake: FakeUpstream,
    services: Services,
    tokens_path: Path,
    config_overrides: dict[str, Any],
) -> None:
    rng = random.Random(20261123)
    faulted: Counter[str] = Counter()

    def chaos(body: Any) -> Step | None:
        said = body["request"]["contents"][-1]["parts"][0]["text"]
        if rng.random() < 0.25:
            faulted[said] += 1
            fault = rng.choice(FAULTS)
            return Step(
                status=fault.status,
                body=fault.body,
                drop_after=fault.drop_after,
                stall_after=fault.stall_after,
            )
        return None

    fake.chaos = chaos

    async def one(i: int) -> tuple[str, str | None, BaseException | None]:
        said = f"soak-{i}"
        text = ""
        try:
            stream = await client.chat.completions.create(
                model="gemini-2.5-flash", stream=True, messages=[{"role": "user", "content": said}]
            )
            async for chunk in stream:
                if chunk.choices:
                    text += chunk.choices[0].delta.content or ""
        except openai.APIError as exc:
            return said, None, exc
        return said, text, None

    results = await asyncio.gather(*(one(i) for i in range(STREAMS)))
    ok = [said for said, text, _ in results if text is not None]
    for said, text, error in results:
        if said not in faulted:
            assert error is None, f"{said} met no fault but failed: {error}"
        if text is not None:
            assert text.endswith(f"You said: {said}"), (said, text)
        else:  # an OpenAI-shaped error the SDK could read
            assert isinstance(error, openai.APIError) and error.message
    assert len(ok) > STREAMS * 0.8 and faulted  # most recover through failover
    # Nothing is left held or corrupted.
    assert services.dispatcher.slots.in_use == 0
    assert len(services.open_requests) == 0
    assert services.pool.counts() == (3, 0)
    await services.writer.flush()
    parsed = parse_tokens(tokens_path.read_text())
    assert [a.project_id for a in parsed.accounts] == [a.project_id for a in services.pool.accounts]
    assert json.loads(tokens_path.read_text())
