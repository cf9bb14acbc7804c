"""The retry policy on a fake clock: the attempts and the time budget of one request, the
refresh-and-retry of a 401/403, and no retry once the client has seen a byte."""

from __future__ import annotations

from typing import Any

import pytest

from ag2api.errors import GatewayError
from ag2api.testing import fake_bodies as bodies
from tests.support.clock import FakeClock
from tests.support.failover import Rig, Sent, config, http_error

UNAVAILABLE = bodies.CAPACITY


def failing(n: int) -> list[object]:
    return [http_error(503, UNAVAILABLE) for _ in range(n)]


async def test_a_request_makes_at_most_retry_attempts(clock: FakeClock) -> None:
    rig = Rig(clock, ("a", "b", "c", "d", "e"), config(attempts=3))
    rig.upstream.script = failing(5)
    with pytest.raises(GatewayError) as info:
        await rig.serve()
    assert info.value.status == 503 and rig.upstream.projects == ["a", "b", "c"]
    assert clock.slept == []  # a fresh account each time: no backoff


async def test_backoffs_never_sleep_past_the_time_budget(clock: FakeClock) -> None:
    rig = Rig(clock, ("a",), config(attempts=50, total_seconds=10, backoff_base=1, backoff_max=4))
    rig.upstream.script = failing(50)
    started = clock.monotonic()
    with pytest.raises(GatewayError):
        await rig.serve()
    assert clock.monotonic() - started <= 10
    assert 3 <= len(rig.upstream.calls) < 50 and len(clock.slept) == len(rig.upstream.calls) - 1


async def test_a_backoff_longer_than_the_budget_left_is_not_slept(clock: FakeClock) -> None:
    rig = Rig(clock, ("a",), config(total_seconds=5, backoff_base=20, backoff_max=20))
    rig.upstream.script = failing(2)
    with pytest.raises(GatewayError):
        await rig.serve()
    assert clock.slept == [] and rig.upstream.projects == ["a"]  # the error at once


async def test_time_spent_upstream_counts_against_the_budget(clock: FakeClock) -> None:
    def slow_failure(sent: Sent) -> None:
        clock.advance(5)
        raise http_error(503, UNAVAILABLE)

    rig = Rig(clock, ("a", "b", "c"), config(total_seconds=10))
    rig.upstream.script = [slow_failure] * 3
    with pytest.raises(GatewayError):
        await rig.serve()
    assert rig.upstream.projects == ["a", "b"]  # the 10 s are spent: no third attempt


async def test_a_401_refreshes_the_token_and_retries_once_on_the_same_account(
    clock: FakeClock,
) -> None:
    rig = Rig(clock, ("a", "b"), config())
    rig.upstream.script = [http_error(401, bodies.UNAUTHENTICATED)]
    answer, grant = await rig.serve()
    assert answer == "answer from a" and grant.account.project_id == "a"
    assert [(c.project, c.token) for c in rig.upstream.calls] == [("a", "at-a-1"), ("a", "at-a-2")]
    assert rig.refresher.refreshes == [("a", "at-a-1")] and clock.slept == []


@pytest.mark.parametrize(
    ("body", "shown"), [(bodies.PLAIN_403, 502), (bodies.INVALID_ARGUMENT, 400)], ids=["403", "400"]
)
async def test_a_second_refusal_after_the_refresh_is_the_clients_error(
    clock: FakeClock, body: dict[str, Any], shown: int
) -> None:
    rig = Rig(clock, ("a", "b"), config())
    rig.upstream.script = [
        http_error(403, bodies.PLAIN_403),
        http_error(body["error"]["code"], body),
    ]
    with pytest.raises(GatewayError) as info:
        await rig.serve()
    assert info.value.status == shown
    assert rig.upstream.projects == ["a", "a"] and len(rig.refresher.refreshes) == 1
    assert rig.account("a").enabled  # a refusal of the request, not of the account


async def test_nothing_is_retried_once_the_client_has_seen_a_byte(clock: FakeClock) -> None:
    seen = False

    def first_byte_out(sent: Sent) -> None:
        nonlocal seen
        seen = True  # e.g. a keepalive committed the response headers meanwhile
        raise http_error(503, UNAVAILABLE)

    rig = Rig(clock, ("a", "b"), config())
    rig.upstream.script = [first_byte_out]
    with pytest.raises(GatewayError) as info:
        await rig.serve(committed=lambda: seen)
    assert info.value.status == 503 and rig.upstream.projects == ["a"] and clock.slept == []
