"""The Overview page of a host sharing its pool through Redis (its own Redis here): a Hosts panel
says where the account list stands — this host, the last sync, pending changes, the hosts seen —
and that without a key accounts added here stay here."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import expect

from tests.support.clients import ADMIN
from tests.support.console import refreshed, show
from tests.support.redis_server import MISSING, RedisServer, available
from tests.support.replicas import state_config


@pytest.fixture(scope="module")
def shared_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    if not available():
        pytest.skip(MISSING)
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def config_overrides(shared_redis: RedisServer) -> dict[str, Any]:
    return {"admin_key": ADMIN, **state_config(shared_redis.url, "ag:console:", host_name="host-a")}


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
