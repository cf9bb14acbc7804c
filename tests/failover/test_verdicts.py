"""What each failure means for its account and for the request, on a fake clock: rate limits,
quota cooldowns and probes, capacity backoffs, dead tokens, masked content rejections."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from ag2api.accounts.refresh import AccountRevoked, RefreshFailed
from ag2api.errors import CONTENT_REJECTED, GatewayError
from ag2api.testing import fake_bodies as bodies
from tests.support.clock import FakeClock
from tests.support.failover import MODEL, Rig, config, http_error

SHORT = 0.479417207  # bodies.RATE_LIMITED's retryDelay
HOUR = 3600.0  # retry.max_cooldown


def rate_limited() -> Exception:
    return http_error(429, bodies.RATE_LIMITED)


def quota_exhausted(delay: str | None = None) -> Exception:
    body = copy.deepcopy(bodies.QUOTA_EXHAUSTED)
    if delay is not None:
        body["error"]["details"][1]["retryDelay"] = delay
    return http_error(429, body)


def unavailable() -> Exception:
    return http_error(503, bodies.CAPACITY)


async def test_a_short_rate_limit_moves_on_at_once_while_another_account_is_free(
    clock: FakeClock,
) -> None:
    rig = Rig(clock, ("a", "b", "c"), config())
    rig.upstream.script = [rate_limited()]
    assert (await rig.serve())[0] == "answer from b"
    assert clock.slept == []
    assert rig.state.cooling_until(rig.account("a"), MODEL) == clock.now() + SHORT
    assert rig.writer.fields("a") == []  # too short to be worth writing to tokens.json


async def test_a_short_rate_limit_is_waited_out_on_the_only_account(clock: FakeClock) -> None:
    rig = Rig(clock, ("a",), config())
    rig.upstream.script = [rate_limited()]
    assert (await rig.serve())[0] == "answer from a"
    assert clock.slept == [SHORT]
    first, second = rig.upstream.calls
    assert second.at - first.at == pytest.approx(SHORT)


async def test_short_limits_everywhere_are_waited_out_on_the_last_account(
    clock: FakeClock,
) -> None:
    rig = Rig(clock, ("a", "b", "c"), config())
    rig.upstream.script = [rate_limited() for _ in range(3)]
    assert (await rig.serve())[0] == "answer from c"
    assert rig.upstream.projects == ["a", "b", "c", "c"] and clock.slept == [SHORT]


@pytest.mark.parametrize(
    ("failure", "cooled", "probe"),
    [
        (quota_exhausted(), HOUR, True),  # 161 h: capped, then a probe
        (quota_exhausted("120s"), 120.0, False),
    ],
    ids=["capped", "within-cap"],
)
async def test_quota_exhausted_cools_the_account_for_the_model_and_saves_it(
    clock: FakeClock, failure: Exception, cooled: float, probe: bool
) -> None:
    rig = Rig(clock, ("a", "b"), config())
    rig.upstream.script = [failure]
    assert (await rig.serve())[0] == "answer from b" and clock.slept == []
    entry = rig.account("a").cooldowns[MODEL]
    assert entry["until"] == clock.now() + cooled and entry["reason"] == "QUOTA_EXHAUSTED"
    assert bool(entry.get("probe")) is probe
    assert rig.writer.fields("a") == [{"cooldowns": {MODEL: entry}}]
    assert (await rig.serve("claude-sonnet-4-5"))[0] == "answer from a"  # other models: untouched
    assert (await rig.serve())[0] == "answer from b"


async def test_after_a_capped_cooldown_one_probe_goes_through_and_ends_it(
    clock: FakeClock,
) -> None:
    rig = Rig(clock, ("a", "b"), config())
    rig.upstream.script = [quota_exhausted()]
    await rig.serve()
    clock.advance(HOUR)
    answer, grant = await rig.serve()
    assert answer == "answer from a" and grant.probe
    assert MODEL not in rig.account("a").cooldowns
    assert rig.writer.fields("a")[-1] == {"cooldowns": {}}  # the end is saved too


async def test_a_failed_probe_cools_the_account_again(clock: FakeClock) -> None:
    rig = Rig(clock, ("a", "b"), config())
    rig.upstream.script = [quota_exhausted()]
    await rig.serve()
    clock.advance(HOUR)
    rig.upstream.script = [quota_exhausted()]
    assert (await rig.serve())[0] == "answer from b"
    assert rig.state.cooling_until(rig.account("a"), MODEL) == clock.now() + HOUR


async def test_a_429_naming_no_delay_cools_for_the_default_time(clock: FakeClock) -> None:
    body = copy.deepcopy(bodies.RATE_LIMITED)
    body["error"]["details"] = body["error"]["details"][:1]
    body["error"]["details"][0]["metadata"] = {}
    body["error"]["message"] = "Rate limit exceeded."
    rig = Rig(clock, ("a", "b"), config(default_cooldown=60))
    rig.upstream.script = [http_error(429, body)]
    assert (await rig.serve())[0] == "answer from b"
    assert rig.state.cooling_until(rig.account("a"), MODEL) == clock.now() + 60


async def test_every_account_limited_is_a_429_with_the_earliest_recovery(
    clock: FakeClock,
) -> None:
    rig = Rig(clock, ("a", "b"), config())
    rig.upstream.script = [quota_exhausted("900s"), quota_exhausted("300s")]
    with pytest.raises(GatewayError) as info:
        await rig.serve()
    assert (info.value.status, info.value.retry_after) == (429, 300)
    assert clock.slept == []


async def test_capacity_errors_back_off_with_jitter_only_when_reusing_an_account(
    clock: FakeClock,
) -> None:
    rig = Rig(clock, ("a", "b", "c"), config(attempts=7, backoff_base=0.5, backoff_max=8))
    rig.upstream.script = [unavailable() for _ in range(7)]
    with pytest.raises(GatewayError):
        await rig.serve()
    assert rig.upstream.projects == ["a", "b", "c", "a", "b", "c", "a"]
    # A backoff only after every account failed once; exponential in the failures, capped.
    first, second = clock.slept
    assert 1.0 <= first <= 2.0  # 0.5 * 2**2, times a jitter in [0.5, 1]
    assert 4.0 <= second <= 8.0  # 0.5 * 2**5 = 16, capped at 8
    assert not rig.account("a").cooldowns  # capacity is the server's, not the account's


async def test_backoffs_are_jittered(clock: FakeClock) -> None:
    waits = set()
    for _ in range(8):
        rig = Rig(clock, ("a",), config())
        rig.upstream.script = [unavailable()]
        await rig.serve()
        waits.add(clock.slept[-1])
    assert len(waits) > 1 and all(0.25 <= w <= 0.5 for w in waits)


async def test_a_revoked_refresh_token_disables_the_account(clock: FakeClock) -> None:
    rig = Rig(clock, ("a", "b"), config())
    rig.refresher.failing["a"] = AccountRevoked("invalid_grant: Token has been expired or revoked.")
    assert (await rig.serve())[0] == "answer from b"
    alpha = rig.account("a")
    assert not alpha.enabled and alpha.disabled_reason.startswith("invalid_grant")  # type: ignore[union-attr]
    assert {"enabled": False, "disabled_reason": alpha.disabled_reason} in rig.writer.fields("a")
    await rig.serve()
    assert rig.upstream.projects == ["b", "b"] and clock.slept == []


async def test_a_token_endpoint_that_fails_keeps_the_account(clock: FakeClock) -> None:
    rig = Rig(clock, ("a", "b"), config())
    rig.refresher.failing["a"] = RefreshFailed("token endpoint unreachable")
    assert (await rig.serve())[0] == "answer from b"
    assert rig.account("a").enabled and not rig.account("a").cooldowns


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (bodies.UNAUTHENTICATED, "upstream 401 after a token refresh"),
        (bodies.consumer_invalid("a"), "CONSUMER_INVALID"),
    ],
    ids=["401", "403-naming-the-project"],
)
async def test_refused_again_after_a_refresh_disables_the_account(
    clock: FakeClock, body: dict[str, Any], reason: str
) -> None:
    status = body["error"]["code"]
    rig = Rig(clock, ("a", "b"), config())
    rig.upstream.script = [http_error(status, body), http_error(status, body)]
    assert (await rig.serve())[0] == "answer from b"
    assert rig.upstream.projects == ["a", "a", "b"] and len(rig.refresher.refreshes) == 1
    assert rig.account("a").disabled_reason.startswith(reason)  # type: ignore[union-attr]


async def test_a_masked_content_rejection_cools_nothing_and_tries_one_more_account(
    clock: FakeClock,
) -> None:
    rig = Rig(clock, ("a", "b", "c"), config())
    rig.upstream.script = [http_error(429, bodies.BARE_RESOURCE_EXHAUSTED) for _ in range(3)]
    with pytest.raises(GatewayError) as info:
        await rig.serve()
    assert (info.value.status, info.value.kind) == (400, CONTENT_REJECTED)
    assert rig.upstream.projects == ["a", "b"] and clock.slept == []
    assert all(not a.cooldowns and a.enabled for a in rig.accounts)
    assert rig.writer.fields("a") == rig.writer.fields("b") == []


async def test_a_rejection_one_account_gives_may_pass_on_another(clock: FakeClock) -> None:
    rig = Rig(clock, ("a", "b"), config())
    rig.upstream.script = [http_error(429, bodies.BARE_RESOURCE_EXHAUSTED)]
    assert (await rig.serve())[0] == "answer from b"


async def test_a_bare_429_on_an_account_known_to_be_out_is_a_limit(clock: FakeClock) -> None:
    rig = Rig(clock, ("a", "b"), config())
    rig.dispatcher.verdicts.quota_left = lambda project, model: 0.0
    rig.upstream.script = [http_error(429, bodies.BARE_RESOURCE_EXHAUSTED)]
    assert (await rig.serve())[0] == "answer from b"
    assert rig.state.cooling_until(rig.account("a"), MODEL) is not None
