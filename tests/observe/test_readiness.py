"""/health is liveness (always 200); /ready and /health?ready=1 say whether the gateway can serve
at all, for orchestrators: 503 with the reason when no account is usable."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ag2api.server.watch import FileWatcher
from ag2api.services import Services
from tests.support.http import fetch


async def probe(base_url: str, path: str) -> tuple[int, dict[str, Any]]:
    answer = await fetch(base_url + path)
    return answer.code, json.loads(answer.body)


async def test_ready_with_accounts(base_url: str) -> None:
    for path in ("/ready", "/health?ready=1"):
        assert await probe(base_url, path) == (200, {"status": "ready"})


@pytest.mark.parametrize("accounts_spec", [()])
async def test_no_account_configured_cannot_serve(base_url: str, accounts_spec: Any) -> None:
    for path in ("/ready", "/health?ready=1"):
        status, body = await probe(base_url, path)
        assert status == 503 and body["status"] == "cannot_serve"
        assert (
            "no Google account is configured" in body["reason"] and "ag2api login" in body["reason"]
        )
    status, body = await probe(base_url, "/health")
    assert status == 200 and body["status"] == "no_accounts"  # alive all the same


async def test_every_account_disabled_cannot_serve_until_one_is_enabled(
    base_url: str, watcher: FileWatcher, services: Services, tokens_path: Path
) -> None:
    doc = json.loads(tokens_path.read_text())
    for project in doc["projects"]:
        project["enabled"] = False
    tokens_path.write_text(json.dumps(doc))
    await watcher.wait_for(lambda: services.pool.counts() == (0, 3))
    status, body = await probe(base_url, "/ready")
    assert status == 503 and "all 3 Google accounts are disabled" in body["reason"]
    doc["projects"][1]["enabled"] = True
    tokens_path.write_text(json.dumps(doc))
    await watcher.wait_for(lambda: services.pool.counts() == (1, 2))
    assert await probe(base_url, "/ready") == (200, {"status": "ready"})
