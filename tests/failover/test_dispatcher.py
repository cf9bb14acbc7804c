"""The dispatcher's loops on a fake clock: base URLs in order, accounts, and the wait for a short
rate limit about to lift when every account is cooling."""

from __future__ import annotations

import pytest

from ag2api.errors import GatewayError
from ag2api.testing import fake_bodies as bodies
from ag2api.upstream.client import UpstreamConnectionError, UpstreamTimeoutError
from tests.support.clock import FakeClock
from tests.support.failover import BASE_URLS, MODEL, Rig, config, http_error

A, B = BASE_URLS


async def test_a_success_takes_one_call_and_no_time(clock: FakeClock) -> None:
    rig = Rig(clock, ("a", "b"), config())
    answer, grant = await rig.serve()
    assert answer == "answer from a" and not grant.probe
    assert rig.upstream.projects == ["a"] and clock.slept == [] and rig.state.held == 0


@pytest.mark.parametrize(
    "failure",
    [
        http_error(503, bodies.CAPACITY),
        http_error(500, bodies.INTERNAL),
        http_error(404, bodies.NOT_FOUND),
        UpstreamConnectionError("connection refused"),
        UpstreamTimeoutError("connection", 5),
    ],
    ids=["503", "500", "404", "refused", "connect-timeout"],
)
async def test_the_next_base_url_serves_on_the_same_account(
    clock: FakeClock, failure: Exception
) -> None:
    rig = Rig(clock, ("a", "b"), config(base_urls=BASE_URLS))
    rig.upstream.script = [failure]
    assert (await rig.serve())[0] == "answer from a"
    assert [(c.base, c.project) for c in rig.upstream.calls] == [(A, "a"), (B, "a")]
    assert clock.slept == []


@pytest.mark.parametrize(
    "failure",
    [http_error(429, bodies.QUOTA_EXHAUSTED), UpstreamTimeoutError("first_byte", 10)],
    ids=["429", "first-byte-timeout"],
)
async def test_a_failure_of_the_account_moves_to_the_next_account_not_url(
    clock: FakeClock, failure: Exception
) -> None:
    rig = Rig(clock, ("a", "b"), config(base_urls=BASE_URLS))
    rig.upstream.script = [failure]
    assert (await rig.serve())[0] == "answer from b"
    assert [(c.base, c.project) for c in rig.upstream.calls] == [(A, "a"), (A, "b")]


async def test_not_found_on_every_base_url_is_the_clients_404(clock: FakeClock) -> None:
    rig = Rig(clock, ("a", "b"), config(base_urls=BASE_URLS))
    rig.upstream.script = [http_error(404, bodies.NOT_FOUND)] * 2
    with pytest.raises(GatewayError) as info:
        await rig.serve()
    assert info.value.status == 404 and rig.upstream.projects == ["a", "a"]


async def test_a_short_limit_about_to_lift_is_waited_for_when_all_are_cooling(
    clock: FakeClock,
) -> None:
    rig = Rig(clock, ("a", "b"), config(short_rate_limit=3))
    for account, seconds in zip(rig.accounts, (2.0, 2.5), strict=True):
        rig.state.cool(account, MODEL, seconds, "RATE_LIMIT_EXCEEDED")
    started = clock.monotonic()
    assert (await rig.serve())[0] == "answer from a"
    assert clock.slept == [2.0] and rig.upstream.calls[0].at == started + 2.0


async def test_a_longer_cooldown_everywhere_is_a_429_at_once(clock: FakeClock) -> None:
    rig = Rig(clock, ("a", "b"), config(short_rate_limit=3))
    for account in rig.accounts:
        rig.state.cool(account, MODEL, 45.0, "QUOTA_EXHAUSTED")
    with pytest.raises(GatewayError) as info:
        await rig.serve()
    assert (info.value.status, info.value.retry_after) == (429, 45.0)
    assert rig.upstream.calls == [] and clock.slept == []


async def test_a_failed_attempt_gives_its_slot_back(clock: FakeClock) -> None:
    rig = Rig(clock, ("a", "b"), config())
    rig.upstream.script = [http_error(503, bodies.CAPACITY)]
    await rig.serve()
    assert rig.state.held == 0
