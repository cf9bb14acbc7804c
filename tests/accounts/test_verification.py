"""Verification is a state: an account Google wants verified is shown as such with its link, is
rechecked with one loadCodeAssist every accounts.recheck_seconds, and comes back by itself. The
same recheck brings back transient disables; a dead refresh token stays out."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import openai
import pytest

from ag2api.accounts.cli import account_rows, verification_lines
from ag2api.services import Services
from ag2api.testing import fake_bodies as bodies
from ag2api.testing.fake_upstream import FakeUpstream
from tests.support.clients import ADMIN
from tests.support.clock import FakeClock
from tests.support.helpers import chat_text
from tests.support.http import fetch


def load_calls(fake: FakeUpstream) -> int:
    return len([r for r in fake.requests if r.path.endswith("loadCodeAssist")])


@pytest.mark.parametrize("config_overrides", [{"admin_key": ADMIN}])
async def test_needs_verification_then_back_by_itself(
    client: openai.AsyncOpenAI,
    fake: FakeUpstream,
    services: Services,
    base_url: str,
    tokens_path: Path,
    config_overrides: dict[str, Any],
) -> None:
    fake.accounts["rt-one"].needs_verification = True
    assert (await chat_text(client)).endswith("You said: hi")  # another account served
    alpha = services.pool.get("proj-alpha-0001")
    assert alpha is not None and not alpha.enabled

    shown = json.loads((await fetch(base_url + "/admin/accounts", key=ADMIN)).body)["accounts"][0]
    assert shown["state"] == "needs_verification"
    assert shown["verification_url"] == bodies.VERIFY_URL
    console = json.loads((await fetch(base_url + "/admin/api/accounts", key=ADMIN)).body)[
        "accounts"
    ]
    assert console[0]["state"] == "needs_verification"
    assert console[0]["verification_url"] == bodies.VERIFY_URL
    health = json.loads((await fetch(base_url + "/health")).body)
    (reason,) = health["accounts"]["disabled_reasons"]
    assert reason["reason"].startswith("VALIDATION_REQUIRED") and "sarp" not in reason["reason"]

    await services.writer.flush()
    rows = account_rows(tokens_path)
    assert rows[1][3] == "needs verification"
    (line,) = verification_lines(tokens_path, 600)
    assert bodies.VERIFY_URL in line and "#1" in line

    clock = FakeClock()
    services.recheck.clock = clock.monotonic
    calls = load_calls(fake)
    assert await services.recheck.run_once() == 0 and load_calls(fake) == calls  # not due yet
    clock.advance(600)
    assert await services.recheck.run_once() == 0  # still unverified: one cheap call, still out
    assert load_calls(fake) == calls + 1 and not alpha.enabled
    generated = len(fake.generate_requests())

    fake.accounts["rt-one"].needs_verification = False  # the person verified it
    clock.advance(599)
    assert await services.recheck.run_once() == 0  # every recheck_seconds, not sooner
    clock.advance(1)
    assert await services.recheck.run_once() == 1
    assert alpha.enabled and alpha.disabled_reason is None
    assert len(fake.generate_requests()) == generated  # the recheck made no model call
    await services.writer.flush()
    stored = json.loads(tokens_path.read_text())["projects"][0]
    assert stored["enabled"] is True and stored["disabled_reason"] is None
    shown = json.loads((await fetch(base_url + "/admin/accounts", key=ADMIN)).body)["accounts"][0]
    assert shown["state"] == "enabled" and shown["verification_url"] is None
    projects = set()
    for _ in range(9):  # rotation reaches it again
        await chat_text(client)
        projects.add(fake.generate_requests()[-1].body["project"])
    assert "proj-alpha-0001" in projects


@pytest.mark.parametrize("config_overrides", [{"accounts": {"recheck_seconds": 30}}])
async def test_transient_disables_come_back_and_a_dead_token_stays_out(
    fake: FakeUpstream, services: Services, config_overrides: dict[str, Any]
) -> None:
    alpha, beta, gamma = services.pool.accounts
    services.state.disable(alpha, "token refresh failed: invalid_grant: Token has been revoked.")
    services.state.disable(beta, "SERVICE_DISABLED: Cloud Code API has not been used")
    services.state.disable(gamma, "TOS_BANNED: This account has been disabled")
    clock = FakeClock()
    services.recheck.clock = clock.monotonic
    await services.recheck.run_once()
    clock.advance(30)
    assert await services.recheck.run_once() == 1
    assert beta.enabled and not alpha.enabled and not gamma.enabled
    assert fake.refresh_calls["rt-one"] == 0 and fake.refresh_calls["rt-three"] == 0
    assert load_calls(fake) == 1


async def test_a_recheck_that_finds_the_refresh_token_dead_keeps_it_out_for_good(
    fake: FakeUpstream, services: Services
) -> None:
    alpha = services.pool.accounts[0]
    services.state.disable(alpha, "SERVICE_DISABLED: Cloud Code API has not been used")
    fake.accounts["rt-one"].revoked = True
    clock = FakeClock()
    services.recheck.clock = clock.monotonic
    await services.recheck.run_once()
    clock.advance(600)
    assert await services.recheck.run_once() == 0
    assert alpha.disabled_reason is not None and "invalid_grant" in alpha.disabled_reason
    clock.advance(6000)
    await services.recheck.run_once()
    assert fake.refresh_calls["rt-one"] == 1  # no longer rechecked
