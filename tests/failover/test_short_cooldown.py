"""models.fallbacks within limits.slot_wait over HTTP: when every account cools down for the
asked model for less than what is left of slot_wait, the request waits (on the gateway's clock)
and the asked model serves; a longer cooldown gives the fallback at once."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from ag2api.testing import fake_bodies as bodies
from ag2api.testing.fake_upstream import FakeUpstream, Step
from tests.support.clients import API_KEY
from tests.support.clock import FakeClock

ASKED, FALLBACK = "claude-sonnet-4-5", "gemini-2.5-flash"
SLOT_WAIT = 10.0


@pytest.fixture
def config_overrides() -> dict[str, Any]:
    return {
        "models": {"fallbacks": {"claude-sonnet-*": [FALLBACK]}},
        "limits": {"slot_wait": SLOT_WAIT},
    }


def rate_limited(seconds: int) -> Step:
    """RATE_LIMIT_EXCEEDED lifting in ``seconds`` (more than retry.short_rate_limit's 3)."""
    body = (
        json.dumps(bodies.RATE_LIMITED)
        .replace("0.479417207s", f"{seconds}s")
        .replace("479.417207ms", f"{seconds}s")
    )
    return Step(status=429, body=json.loads(body))


async def ask(fake: FakeUpstream, base_url: str, cooldown: int) -> str:
    """The model that served once every account answered the asked one with a 429."""
    fake.script(*[rate_limited(cooldown)] * 3)  # every account, once each
    async with httpx.AsyncClient(timeout=30) as http:
        answer = await http.post(
            base_url + "/v1/chat/completions",
            json={"model": ASKED, "messages": [{"role": "user", "content": "hi"}]},
            headers={"Authorization": f"Bearer {API_KEY}"},
        )
    assert answer.status_code == 200, answer.text
    served: str = answer.headers["x-ag2api-served-model"]
    assert [r.body["model"] for r in fake.generate_requests()] == [ASKED] * 3 + [served]
    return served


async def test_a_cooldown_shorter_than_slot_wait_is_waited_out(
    fake: FakeUpstream, base_url: str, gateway_clock: FakeClock
) -> None:
    assert await ask(fake, base_url, 6) == ASKED
    # What was left of the 6 s when the last account had answered (cooldowns end on the wall
    # clock), beyond the short limit the gateway would wait out anyway.
    [waited] = gateway_clock.slept
    assert 3.0 < waited <= 6.0


async def test_a_cooldown_longer_than_slot_wait_gives_the_fallback_at_once(
    fake: FakeUpstream, base_url: str, gateway_clock: FakeClock
) -> None:
    assert await ask(fake, base_url, 30) == FALLBACK
    assert gateway_clock.slept == []
