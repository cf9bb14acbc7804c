"""The Overview page of a host sharing its pool through Redis (the session's, under a key prefix
of its own): a Hosts panel says where the account list stands — this host, the last sync,
pending changes, the hosts seen — and that without a key accounts added here stay here."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import expect

from tests.support.clients import ADMIN
from tests.support.console import refreshed, show
from tests.support.redis_server import RedisServer
from tests.support.replicas import state_config


@pytest.fixture
def config_overrides(redis_server: RedisServer, key_prefix: str) -> dict[str, Any]:
    return {"admin_key": ADMIN, **state_config(redis_server.url, key_prefix, host_name="host-a")}


@pytest.mark.timeout(seconds=60)
async def test_the_overview_shows_the_hosts_sharing_the_pool(page: Any, config_path: Path) -> None:
    tab = page
    await show(tab, "overview")
    await refreshed(tab)
    panel = tab.locator("#sharing-panel")
    await expect(panel).to_contain_text("This host")
    await expect(panel.locator("dd").first).to_have_text("host-a")
    await expect(tab.locator("#sharing-hosts tbody tr").first).to_contain_text("host-a")
    await expect(tab.locator("#sharing-pending")).to_have_text("0")
    await expect(panel).to_contain_text("No key is set")
