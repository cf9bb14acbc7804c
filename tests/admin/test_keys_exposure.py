"""The console cannot take the last key away from a gateway listening beyond loopback: the
reload would refuse that file, so the write is refused first (409) and nothing is written."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from ag2api.services import Services
from tests.support.clients import ADMIN

BEARER = {"Authorization": f"Bearer {ADMIN}"}


@pytest.mark.parametrize("config_overrides", [{"admin_key": ADMIN}])
async def test_deleting_the_last_key_on_an_open_address_is_refused(
    base_url: str, config_overrides: dict[str, Any], config_path: Path, services: Services
) -> None:
    before = config_path.read_text()
    services.config.listening = ("0.0.0.0",)  # as a gateway started on every address
    async with httpx.AsyncClient(base_url=base_url, headers=BEARER, timeout=30) as http:
        got = await http.delete("/admin/api/keys/tests")
        assert got.status_code == 409
        message = got.json()["error"]["message"]
        assert "api_keys" in message and "0.0.0.0" not in message
        assert config_path.read_text() == before
        services.config.listening = ("127.0.0.1",)  # on loopback alone it may go
        assert (await http.delete("/admin/api/keys/tests")).status_code == 200
