"""The account pool over real HTTP: refresh, rotation, 401/403 handling, disabling that lasts."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import openai
import pytest

from ag2api.config.live import read_config
from ag2api.services import Services, build_services
from ag2api.testing import fake_bodies as bodies
from ag2api.testing.fake_upstream import FakeUpstream, Step
from tests.support.files import file_projects
from tests.support.helpers import chat_text
from tests.support.upstream import projects


async def test_concurrent_requests_cause_one_refresh_per_account(
    client: openai.AsyncOpenAI, fake: FakeUpstream, services: Services
) -> None:
    await client.models.list()  # refreshes the first account once, outside the burst
    fake.refresh_calls.clear()
    fake.token_requested.clear()
    gate = asyncio.Event()
    fake.token_gate = gate
    services.pool.rotation_count = 1000  # the whole burst lands on one account
    services.pool.accounts[0].access_token = None  # force a refresh for the burst
    tasks = [asyncio.ensure_future(chat_text(client, stream=i % 2 == 0)) for i in range(12)]
    await fake.token_requested.wait()  # the one refresh is held at the token endpoint
    gate.set()
    answers = await asyncio.gather(*tasks)
    assert all(a.endswith("You said: hi") for a in answers)
    assert dict(fake.refresh_calls) == {"rt-one": 1}


@pytest.mark.parametrize("config_overrides", [{"rotation": {"count": 2}}])
async def test_rotation_order(
    client: openai.AsyncOpenAI, fake: FakeUpstream, config_overrides: dict[str, Any]
) -> None:
    for i in range(7):
        await chat_text(client, stream=bool(i % 2))
    assert projects(fake) == [
        "proj-alpha-0001",
        "proj-alpha-0001",
        "proj-beta-0002",
        "proj-beta-0002",
        "proj-gamma-0003",
        "proj-gamma-0003",
        "proj-alpha-0001",
    ]


async def test_refreshed_tokens_are_written_back(
    client: openai.AsyncOpenAI, fake: FakeUpstream, services: Services, tokens_path: Path
) -> None:
    await chat_text(client)
    await services.writer.flush()
    entry = file_projects(tokens_path)["proj-alpha-0001"]
    assert entry["access_token"] in fake.tokens
    assert entry["expires_at"] > 1_700_000_000 and entry["last_used_at"] > 1_700_000_000
    assert entry["refresh_token"] == "rt-one"


async def test_a_rotated_refresh_token_is_written_back_and_used(
    client: openai.AsyncOpenAI, fake: FakeUpstream, services: Services, tokens_path: Path
) -> None:
    """Google may answer a refresh with a new refresh token and retire the old one."""
    fake.rotate_refresh_tokens = True
    await chat_text(client)
    fake.rotate_refresh_tokens = False
    new = next(
        t for t, a in fake.accounts.items() if a.project_id == "proj-alpha-0001" and not a.revoked
    )
    assert new != "rt-one" and fake.accounts["rt-one"].revoked
    await services.writer.flush()
    assert file_projects(tokens_path)["proj-alpha-0001"]["refresh_token"] == new
    fake.revoke_tokens(new)  # the access token dies: the next refresh must use the new one
    assert (await chat_text(client)).endswith("You said: hi")
    assert fake.refresh_calls[new] == 1 and fake.refresh_calls["rt-one"] == 1


async def test_upstream_401_refreshes_and_retries_once(
    client: openai.AsyncOpenAI, fake: FakeUpstream
) -> None:
    await chat_text(client)
    fake.revoke_tokens("rt-one")  # the cached access token now gets 401 upstream
    assert (await chat_text(client, stream=True)).endswith("You said: hi")
    assert fake.refresh_calls["rt-one"] == 2
    assert projects(fake) == ["proj-alpha-0001"] * 3


async def test_second_401_disables_the_project_and_the_next_one_answers(
    client: openai.AsyncOpenAI, fake: FakeUpstream, services: Services, tokens_path: Path
) -> None:
    fake.script(
        Step(status=401, body=bodies.UNAUTHENTICATED), Step(status=401, body=bodies.UNAUTHENTICATED)
    )
    assert (await chat_text(client)).endswith("You said: hi")
    assert projects(fake) == ["proj-alpha-0001"] * 2 + ["proj-beta-0002"]
    await services.writer.flush()
    entry = file_projects(tokens_path)["proj-alpha-0001"]
    assert entry["enabled"] is False and "401" in entry["disabled_reason"]


async def test_invalid_grant_disables_and_it_stays_disabled_after_a_restart(
    client: openai.AsyncOpenAI,
    fake: FakeUpstream,
    services: Services,
    tokens_path: Path,
    config_path: Path,
) -> None:
    fake.accounts["rt-one"].revoked = True
    assert (await chat_text(client, stream=True)).endswith("You said: hi")
    assert projects(fake) == ["proj-beta-0002"]
    await services.writer.flush()
    entry = file_projects(tokens_path)["proj-alpha-0001"]
    assert entry["enabled"] is False
    assert entry["disabled_reason"] == (
        "token refresh failed: invalid_grant: Token has been expired or revoked."
    )
    # A new gateway on the same files never uses it again.
    restarted = build_services(read_config(config_path, environ={}))
    try:
        assert [a.project_id for a in restarted.pool.accounts if a.enabled] == [
            "proj-beta-0002",
            "proj-gamma-0003",
        ]
        assert restarted.pool.acquire().account.project_id == "proj-beta-0002"
    finally:
        await restarted.aclose()


@pytest.mark.parametrize(
    "body",
    [
        bodies.VALIDATION_REQUIRED,
        bodies.SERVICE_DISABLED,
        bodies.TOS_BANNED,
        bodies.consumer_invalid("proj-alpha-0001"),
    ],
    ids=["validation", "service-disabled", "tos", "consumer-invalid"],
)
async def test_403_naming_the_account_disables_it(
    client: openai.AsyncOpenAI, fake: FakeUpstream, services: Services, body: dict[str, Any]
) -> None:
    fake.script(Step(status=403, body=body), Step(status=403, body=body))
    assert (await chat_text(client)).endswith("You said: hi")
    alpha = services.pool.get("proj-alpha-0001")
    assert alpha is not None and alpha.enabled is False
    details = body["error"].get("details")
    reason = details[0]["reason"] if details else "TOS_BANNED"
    assert alpha.disabled_reason is not None and alpha.disabled_reason.startswith(reason)
    assert fake.refresh_calls["rt-one"] == 2  # refreshed and retried once first


async def test_other_403_is_returned_and_the_account_kept(
    client: openai.AsyncOpenAI, fake: FakeUpstream, services: Services
) -> None:
    fake.script(Step(status=403, body=bodies.PLAIN_403), Step(status=403, body=bodies.PLAIN_403))
    with pytest.raises(openai.APIStatusError) as info:
        await chat_text(client)
    assert info.value.status_code == 502  # never the client's own 401/403
    assert info.value.code == "upstream_account_error"
    assert "caller does not have permission" in info.value.message
    assert services.pool.counts() == (3, 0)
    assert projects(fake) == ["proj-alpha-0001"] * 2


async def test_expired_token_in_file_is_refreshed_before_use(
    client: openai.AsyncOpenAI, fake: FakeUpstream, services: Services
) -> None:
    account = services.pool.accounts[0]
    account.access_token = fake.issue_token("rt-one", ttl=120)  # inside the 5-minute skew
    account.expires_at = time.time() + 120
    await chat_text(client)
    assert fake.refresh_calls["rt-one"] == 1


@pytest.mark.parametrize("accounts_spec", [()])
async def test_no_accounts_is_a_403_saying_what_to_do(
    client: openai.AsyncOpenAI, accounts_spec: Any
) -> None:
    with pytest.raises(openai.PermissionDeniedError) as info:  # not retried: waiting won't help
        await chat_text(client)
    assert info.value.status_code == 403
    assert info.value.code == "no_usable_account"
    assert "oauth_server.py" in info.value.message
