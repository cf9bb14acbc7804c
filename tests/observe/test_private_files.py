"""The usage store and the request log hold each client key's use: mode 0600 like tokens.json,
whether the gateway creates them, rotates them, or finds them readable by others at start."""

from __future__ import annotations

import os
import sqlite3
import stat
from pathlib import Path
from typing import Any

import openai
import pytest

from ag2api.services import Services
from tests.support.helpers import chat_text

LOG = {"observability": {"request_log_file": "logs/requests.jsonl", "request_log_max_bytes": 1024}}


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def readable_by_all(tokens_path: Path) -> list[Path]:
    """A usage store, a request log and one rotated log, left 0644 by an older version."""
    usage = tokens_path.parent / "usage.sqlite3"
    sqlite3.connect(usage).close()
    logs = tokens_path.parent.parent / "logs"
    logs.mkdir()
    files = [usage, logs / "requests.jsonl", logs / "requests.jsonl.1"]
    for path in files:
        path.touch()
        os.chmod(path, 0o644)
    return files


@pytest.mark.parametrize("config_overrides", [LOG])
async def test_existing_files_are_made_private_at_start(
    readable_by_all: list[Path], services: Services, config_overrides: Any
) -> None:
    assert [mode(path) for path in readable_by_all] == [0o600, 0o600, 0o600]


@pytest.mark.parametrize("config_overrides", [LOG])
async def test_new_and_rotated_files_are_private(
    client: openai.AsyncOpenAI, services: Services, tokens_path: Path, config_overrides: Any
) -> None:
    os.umask(old := os.umask(0o022))  # the usual umask: files would be 0644
    assert old & 0o077 != 0o077
    for _ in range(6):  # each line is ~400 bytes: the 1 KiB log rotates
        await chat_text(client)
    await services.usage.flush()
    services.request_log.writer.flush(5)
    logs = tokens_path.parent.parent / "logs"
    assert (logs / "requests.jsonl.1").exists()
    for path in (
        tokens_path.parent / "usage.sqlite3",
        logs / "requests.jsonl",
        logs / "requests.jsonl.1",
    ):
        assert mode(path) == 0o600, path
