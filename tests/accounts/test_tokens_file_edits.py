"""tokens.json deleted, saved by an editor without the lock, broken, or a folder: nothing lost."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import openai
import pytest

from ag2api.server.watch import FileWatcher
from ag2api.services import Services
from ag2api.testing.fake_google import FAKE_CLIENT_ID
from tests.support.helpers import chat_text
from tests.support.http import health

ROOT = Path(__file__).resolve().parents[2]
PROJECTS = ["proj-alpha-0001", "proj-beta-0002", "proj-gamma-0003"]


async def test_deleting_tokens_json_keeps_the_pool_and_the_file_comes_back_whole(
    client: openai.AsyncOpenAI,
    watcher: FileWatcher,
    services: Services,
    tokens_path: Path,
    base_url: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    assert await chat_text(client)
    await services.writer.flush()
    tokens_path.unlink()
    await watcher.wait_for(lambda: "missing" in (services.tokens_error or ""))
    state = await health(base_url)
    assert state["status"] == "degraded" and "the file is missing" in state["tokens"]["last_error"]
    assert not tokens_path.exists()  # nothing to save yet: nothing written
    with caplog.at_level(logging.INFO, logger="ag2api"):
        assert await chat_text(client)  # still served; its last use is a change to save
        await services.writer.flush()
    # Today: {"projects": []}, then every request is a 503.
    doc = json.loads(tokens_path.read_text())
    assert [p["project_id"] for p in doc["projects"]] == PROJECTS
    assert all(p["refresh_token"] for p in doc["projects"])
    assert doc["oauth_config"]["client_id"] == FAKE_CLIENT_ID
    assert "was missing: recreated it from the 3 accounts in memory" in caplog.text
    await watcher.wait_for(lambda: services.tokens_error is None)
    assert services.pool.counts() == (3, 0)
    assert await chat_text(client)
    assert (await health(base_url))["status"] == "ok"


async def test_saving_an_empty_projects_list_removes_every_account(
    client: openai.AsyncOpenAI, watcher: FileWatcher, services: Services, tokens_path: Path
) -> None:
    assert await chat_text(client)
    doc = json.loads(tokens_path.read_text())
    tokens_path.write_text(json.dumps({**doc, "projects": []}))
    await watcher.wait_for(lambda: services.pool.counts() == (0, 0))
    with pytest.raises(openai.APIStatusError) as caught:
        await chat_text(client)
    assert caught.value.status_code == 403  # no usable account: the message says what to do
    await services.writer.flush()
    assert json.loads(tokens_path.read_text())["projects"] == []  # nothing brought back


async def test_an_unreadable_file_keeps_the_changes_reports_them_and_saves_them_once_fixed(
    client: openai.AsyncOpenAI,
    watcher: FileWatcher,
    services: Services,
    tokens_path: Path,
    base_url: str,
) -> None:
    good = json.loads(tokens_path.read_text())
    broken = tokens_path.read_bytes().replace(b'"rt-one"', b'"rt-one", "note": "\xff"', 1)
    tokens_path.write_bytes(broken)
    await watcher.wait_for(lambda: "not UTF-8" in (services.tokens_error or ""))
    assert await chat_text(client)  # a refreshed token and a last use to save
    writer = services.writer
    # Today the writer task dies on UnicodeDecodeError and drops the batch.
    await writer.wait_for(lambda: writer.last_error is not None)
    state = (await health(base_url))["tokens"]
    assert "not UTF-8 text (byte 0xff" in state["write_error"] and state["write_error_at"]
    assert state["unsaved_changes"] == 1
    assert (await health(base_url))["status"] == "degraded"
    assert await chat_text(client)  # still serving meanwhile
    good["projects"][0]["note"] = "fixed by hand"
    tokens_path.write_text(json.dumps(good))
    # The watcher's event on the fix sends the kept changes at once (no flush here).
    await writer.wait_for(lambda: writer.pending_count == 0)
    entry = json.loads(tokens_path.read_text())["projects"][0]
    assert entry["note"] == "fixed by hand"
    assert entry["access_token"] and entry["last_used_at"]
    await watcher.wait_for(lambda: services.tokens_error is None)
    state = await health(base_url)
    assert state["status"] == "ok" and state["tokens"]["write_error"] is None


EDITOR = """
import json, os, sys, time
from pathlib import Path
path = Path(sys.argv[1])
for i in range(int(sys.argv[2])):
    doc = json.loads(path.read_text())
    doc["projects"][1].setdefault("edits", []).append(i)
    text = json.dumps(doc)
    if i % 2:
        tmp = path.with_name("editor.tmp")
        tmp.write_text(text)
        os.replace(tmp, path)
    else:
        path.write_text(text)
    time.sleep(0.01)  # a fast person: a save every 10 ms
"""


@pytest.mark.parametrize("config_overrides", [{"rotation": {"count": 1}}])
async def test_an_editor_without_the_lock_loses_no_edit_while_requests_flow(
    client: openai.AsyncOpenAI,
    watcher: FileWatcher,
    services: Services,
    tokens_path: Path,
    config_overrides: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    edits = 100
    services.writer.interval = 0.0  # every request's last use is written at once
    monkeypatch.setattr("ag2api.accounts.writer.RETRY_FIRST", 0.01)  # and retried soon
    editor = await asyncio.create_subprocess_exec(
        sys.executable, "-c", EDITOR, str(tokens_path), str(edits)
    )
    finished = asyncio.ensure_future(editor.wait())
    writes = services.writer.writes
    while not finished.done():
        assert await chat_text(client)
    assert await finished == 0
    # The gateway wrote meanwhile (it backs off while the file keeps changing under it).
    assert services.writer.writes > writes
    await services.writer.flush()
    assert services.writer.pending() == {}
    doc = json.loads(tokens_path.read_text())
    assert doc["projects"][1]["edits"] == list(range(edits))
    assert all(p.get("last_used_at") for p in doc["projects"])


def test_tokens_json_being_a_folder_is_one_clear_line_at_start(tmp_path: Path) -> None:
    (tmp_path / "tokens.json").mkdir()
    cfg = tmp_path / "gateway.yaml"
    cfg.write_text(f"server: {{port: 0}}\ntokens_file: {tmp_path / 'tokens.json'}\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AG2API_")}
    done = subprocess.run(
        [sys.executable, "-m", "ag2api", "--config", str(cfg)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    out = done.stdout + done.stderr
    assert done.returncode == 2, out
    assert "Traceback" not in out
    lines = [line for line in out.splitlines() if "is a folder, not a file" in line]
    assert len(lines) == 1 and str(tmp_path / "tokens.json") in lines[0]
