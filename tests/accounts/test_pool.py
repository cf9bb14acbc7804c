"""Round robin with rotation count, exclusion for failover, disabling."""

from __future__ import annotations

import logging

import pytest

from ag2api.accounts.model import Account
from ag2api.accounts.pool import AccountPool
from ag2api.errors import NoAvailableAccount


def pool(count: int, *enabled: bool) -> AccountPool:
    return AccountPool([Account(f"p{i}", f"r{i}", enabled=e) for i, e in enumerate(enabled)], count)


def take(p: AccountPool, n: int) -> list[str]:
    return [p.acquire().account.project_id for _ in range(n)]


def test_each_project_serves_rotation_count_uses_in_turn() -> None:
    assert take(pool(3, True, True, True), 10) == (["p0"] * 3 + ["p1"] * 3 + ["p2"] * 3 + ["p0"])


def test_rotation_count_one_is_plain_round_robin() -> None:
    assert take(pool(1, True, True), 4) == ["p0", "p1", "p0", "p1"]


def test_disabled_projects_are_skipped() -> None:
    assert take(pool(2, True, False, True), 6) == ["p0", "p0", "p2", "p2", "p0", "p0"]


def test_use_is_logged_with_masked_project(caplog: pytest.LogCaptureFixture) -> None:
    p = AccountPool([Account("helpful-perigee-2nnd9", "r")], 3)
    with caplog.at_level(logging.DEBUG, "ag2api.accounts"):
        take(p, 2)
    assert "project help…nnd9 use 2/3" in caplog.text
    assert "helpful-perigee-2nnd9" not in caplog.text


def test_exclude_moves_on_for_failover() -> None:
    p = pool(3, True, True, True)
    assert p.acquire().account.project_id == "p0"
    assert p.acquire(exclude={"p0"}).account.project_id == "p1"
    assert p.acquire(exclude={"p0", "p1"}).account.project_id == "p2"
    with pytest.raises(NoAvailableAccount, match="No other enabled account"):
        p.acquire(exclude={"p0", "p1", "p2"})


def test_disable_takes_the_account_out() -> None:
    p = pool(1, True, True)
    first = p.acquire().account
    assert p.disable(first, "invalid_grant") and not p.disable(first, "again")
    assert (first.enabled, first.disabled_reason) == (False, "invalid_grant")
    assert take(p, 3) == ["p1"] * 3
    assert p.counts() == (1, 1)


def test_empty_and_all_disabled_pools_say_what_to_do() -> None:
    with pytest.raises(NoAvailableAccount, match=r"oauth_server\.py"):
        pool(3).acquire()
    with pytest.raises(NoAvailableAccount, match="Every Google account is disabled"):
        pool(3, False).acquire()
