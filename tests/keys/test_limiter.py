"""The per-process limiter and the pure checks, on a controlled clock."""

from __future__ import annotations

import pytest

from ag2api.config.schema import KeyPolicy
from ag2api.errors import GatewayError
from ag2api.keys.limiter import MemoryLimiter, budget_reset, periods
from ag2api.keys.policies import check_key, check_model, duration, rate_headers, refusal

T0 = 1_800_000_000.0  # 2027-01-15T08:00:00Z


def test_rpm_window_slides() -> None:
    lim, p = MemoryLimiter(), KeyPolicy(rpm=2)
    assert lim.admit("k", p, "d", "m", now=T0).ok
    assert lim.admit("k", p, "d", "m", now=T0 + 10).ok
    over = lim.admit("k", p, "d", "m", now=T0 + 20)
    assert over.reason == "rpm" and over.retry_after == pytest.approx(40)
    assert rate_headers(p, over)["x-ratelimit-remaining-requests"] == "0"
    assert lim.admit("k", p, "d", "m", now=T0 + 60.5).ok  # the first left the window
    assert lim.admit("other", p, "d", "m", now=T0 + 20).ok  # keys count apart


def test_tpm_charged_then_refused_until_enough_leaves() -> None:
    lim, p = MemoryLimiter(), KeyPolicy(tpm=100)
    assert lim.admit("k", p, "d", "m", now=T0).ok
    lim.charge("k", 60, "d", "m", now=T0)
    assert lim.admit("k", p, "d", "m", now=T0 + 5).ok  # 60 < 100: checked before the call
    lim.charge("k", 60, "d", "m", now=T0 + 30)
    over = lim.admit("k", p, "d", "m", now=T0 + 40)
    assert over.reason == "tpm" and over.tokens_used == 120
    assert over.retry_after == pytest.approx(20)  # the first 60 leave at T0+60
    assert lim.admit("k", p, "d", "m", now=T0 + 61).ok


def test_budgets_per_period_and_concurrency() -> None:
    lim, p = MemoryLimiter(), KeyPolicy(daily_tokens=10, monthly_tokens=15, max_concurrent=1)
    a = lim.admit("k", p, "d1", "m1", now=T0)
    assert a.ok and a.lease
    assert lim.admit("k", p, "d1", "m1", now=T0).reason == "concurrency"
    lim.charge("k", 10, "d1", "m1", now=T0)
    lim.release("k", a.lease)
    assert lim.admit("k", p, "d1", "m1", now=T0).reason == "daily"
    nxt = lim.admit("k", p, "d2", "m1", now=T0)  # a new day
    assert nxt.ok and nxt.lease
    lim.charge("k", 5, "d2", "m1", now=T0)
    lim.release("k", nxt.lease)
    assert lim.admit("k", p, "d3", "m1", now=T0).reason == "monthly"
    assert lim.admit("k", p, "d3", "m2", now=T0).ok
    err = refusal(p, "alice", lim.admit("k", p, "d2", "m1", now=T0), now=T0)
    assert err.kind == "insufficient_quota" and "resets at" in err.message


def test_periods_resets_and_durations() -> None:
    assert periods(T0) == ("20270115", "202701")
    assert budget_reset("daily", T0) == 1_800_057_600.0  # 2027-01-16T00:00:00Z
    assert budget_reset("monthly", 1_796_083_200.0 + 100) == 1_798_761_600.0  # Dec → Jan
    assert [duration(x) for x in (0.02, 1, 59.2, 360)] == ["20ms", "1s", "1m0s", "6m0s"]


def test_pure_checks() -> None:
    check_key(KeyPolicy(expires=T0), "a", now=T0 - 1)
    with pytest.raises(GatewayError) as expired:
        check_key(KeyPolicy(expires=T0), "a", now=T0)
    assert expired.value.status == 401
    with pytest.raises(GatewayError) as off:
        check_key(KeyPolicy(enabled=False), "a")
    assert off.value.kind == "key_disabled"
    p = KeyPolicy(models=("gemini-*", "claude-sonnet-4-5"))
    check_model(p, "a", "gemini-3-pro-high")
    check_model(p, "a", "claude-sonnet-4-5", asked="sonnet")  # what serves is allowed
    with pytest.raises(GatewayError) as aliased:  # a name the key may use, served by another
        check_model(p, "a", "claude-opus-4-6", asked="gemini-opus")
    assert "`claude-opus-4-6` (asked as `gemini-opus`)" in aliased.value.message
    with pytest.raises(GatewayError):  # every model that may serve must be allowed
        check_model(p, "a", "gemini-3-pro-high", "claude-opus-4-6")
    with pytest.raises(GatewayError) as denied:
        check_model(p, "a", "claude-opus-4-6-thinking", asked="opus")
    assert denied.value.status == 403 and denied.value.to_openai()["error"]["code"] == (
        "model_not_allowed"
    )
