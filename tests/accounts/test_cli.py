"""`ag2api accounts` changes tokens.json through the locked store; a running gateway follows."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ag2api.server.watch import FileWatcher
from ag2api.services import Services
from ag2api.testing import fake_bodies as bodies
from ag2api.testing.fake_upstream import FakeUpstream
from tests.support.cli import ag2api
from tests.support.helpers import chat_text


async def accounts(*args: str) -> tuple[int, str]:
    return await ag2api("accounts", *args)


async def test_list_disable_enable_seen_live(
    tokens_path: Path, services: Services, watcher: FileWatcher
) -> None:
    code, out = await accounts("--tokens", str(tokens_path), "list")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == [
        "#",
        "PROJECT",
        "EMAIL",
        "STATE",
        "PROXY",
        "LAST",
        "USED",
        "LOWEST",
        "QUOTA",
        "CHECKED",
        "REASON",
    ]
    assert "proj…0001" in lines[1] and "enabled" in lines[1]
    assert "proj-alpha-0001" not in out  # ids are masked
    code, out = await accounts(
        "--tokens", str(tokens_path), "disable", "beta", "--reason", "quota tests"
    )
    assert code == 0 and "project proj…0002 disabled" in out
    await watcher.wait_for(lambda: not services.pool.accounts[1].enabled)
    assert services.pool.accounts[1].disabled_reason == "quota tests"
    entry = json.loads(tokens_path.read_text())["projects"][1]
    assert (entry["enabled"], entry["disabled_reason"]) == (False, "quota tests")
    code, out = await accounts("--tokens", str(tokens_path), "enable", "2")
    assert code == 0
    await watcher.wait_for(lambda: services.pool.accounts[1].enabled)
    code, out = await accounts("--tokens", str(tokens_path), "list")
    assert "disabled" not in out


async def test_unknown_or_ambiguous_project_is_an_error(tokens_path: Path) -> None:
    before = tokens_path.read_bytes()
    code, out = await accounts("--tokens", str(tokens_path), "disable", "nope")
    assert code == 1 and "no project matches 'nope'" in out
    code, out = await accounts("--tokens", str(tokens_path), "disable", "proj-")
    assert code == 1 and "matches 3 projects" in out
    assert tokens_path.read_bytes() == before


async def test_usage_table_and_quota_columns(
    client: Any, services: Services, fake: FakeUpstream, config_path: Path
) -> None:
    for stream in (True, False):
        await chat_text(client, stream=stream)
    await services.usage.flush()
    fake.models = bodies.used_up(fake.models, "claude-sonnet-4-5-thinking")
    await services.quota.refresh()  # saved for the CLI in the usage database
    code, out = await ag2api("--config", str(config_path), "usage", "--group-by", "key,model")
    assert code == 0, out
    header, row = out.splitlines()
    assert header.split() == [
        "KEY",
        "MODEL",
        "REQUESTS",
        "PROMPT",
        "COMPLETION",
        "REASONING",
        "ERRORS",
        "CREDITS",
        "FALLBACKS",
    ]
    assert row.split()[:3] == ["tests", "gemini-2.5-flash", "2"]
    code, out = await accounts("--config", str(config_path), "list")
    assert code == 0
    assert "LOWEST QUOTA" in out and "claude-sonnet-4-5-thinking 0% (resets in" in out
