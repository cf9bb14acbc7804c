"""tokens.json writes lose nothing: a save made without the lock, a deleted file, a broken file."""

from __future__ import annotations

import json
import logging
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from ag2api.accounts.model import OAuthConfig
from ag2api.accounts.store import (
    TokensFileError,
    TokensPathError,
    apply_gateway_changes,
    parse_tokens,
    read_tokens,
    tokens_document,
    update_tokens,
)
from ag2api.accounts.writer import TokenWriter
from ag2api.files import safewrite
from tests.support.files import HAND_SAVES

EDITS = 300

# A person's editor that does not take the lock: re-reads the file, adds one entry to a field the
# gateway does not own, saves — in place (truncate + write) on even rounds, by atomic rename on
# odd ones. A lost edit is one missing from the list at the end.
EDITOR = f"""
import json, os, sys, time
from pathlib import Path
path = Path(sys.argv[1])
for i in range({EDITS}):
    doc = json.loads(path.read_text())
    doc["projects"][0]["edits"].append(i)
    text = json.dumps(doc)
    if i % 2:
        tmp = path.with_name("editor.tmp")
        tmp.write_text(text)
        os.replace(tmp, path)
    else:
        path.write_text(text)
    time.sleep(0.001)  # a (very fast) person's pace, so the gateway gets its writes in
"""


def one_project(path: Path, **extra: Any) -> None:
    entry = {"project_id": "p-one", "refresh_token": "r1", **extra}
    path.write_text(json.dumps({"projects": [entry]}))


def gateway_write(path: Path, n: int) -> None:
    changes = {"p-one": {"access_token": f"tok-{n}", "last_used_at": n}}
    update_tokens(path, lambda doc: apply_gateway_changes(doc, changes))


def test_an_unlocked_editor_in_a_loop_loses_no_edit(tmp_path: Path) -> None:
    path = tmp_path / "tokens.json"
    one_project(path, edits=[])
    editor = subprocess.Popen([sys.executable, "-c", EDITOR, str(path)])
    written, refused = 0, 0
    while editor.poll() is None:
        try:
            gateway_write(path, written)
            written += 1
        except TokensFileError:
            refused += 1  # the editor's save was half written, or kept changing: try again
    assert editor.returncode == 0
    gateway_write(path, 10_000)
    entry = json.loads(path.read_text())["projects"][0]
    lost = sorted(set(range(EDITS)) - set(entry["edits"]))
    assert lost == [], f"{len(lost)} of {EDITS} edits lost ({written} gateway writes)"
    assert (entry["access_token"], entry["last_used_at"]) == ("tok-10000", 10_000)
    assert written >= 5, (written, refused)  # the two really did write at the same time
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tokens.json", "tokens.json.lock"]


def with_fields(path: Path, **fields: Any) -> str:
    """tokens.json's text with ``fields`` set on its first project."""
    doc = json.loads(path.read_text())
    doc["projects"][0].update(fields)
    return json.dumps(doc)


@pytest.mark.parametrize("save", HAND_SAVES)
def test_a_save_between_the_read_and_the_rename_is_merged_not_reverted(
    tmp_path: Path, save: Any
) -> None:
    path = tmp_path / "tokens.json"
    one_project(path, note="old")
    runs = []

    def mutate(doc: dict[str, Any]) -> None:
        if not runs:
            # lands after the gateway's read
            save(path, with_fields(path, note="by hand", enabled=False))
        runs.append(doc["projects"][0]["note"])
        apply_gateway_changes(doc, {"p-one": {"access_token": "new"}})

    update_tokens(path, mutate)
    entry = json.loads(path.read_text())["projects"][0]
    assert (entry["note"], entry["enabled"], entry["access_token"]) == ("by hand", False, "new")
    assert runs == ["old", "by hand"]  # re-read and re-merged once


def test_a_half_written_save_is_waited_for_not_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "tokens.json"
    one_project(path, note="old")
    whole = path.read_text().replace('"old"', '"by hand"')
    path.write_text(whole[:20])  # the editor has written part of its save...

    class Meanwhile:
        @staticmethod
        def sleep(_seconds: float) -> None:
            path.write_text(whole)  # ...and finishes it while the gateway waits

    monkeypatch.setattr(safewrite, "time", Meanwhile)
    gateway_write(path, 1)
    entry = json.loads(path.read_text())["projects"][0]
    assert (entry["note"], entry["access_token"]) == ("by hand", "tok-1")


# -- a missing file ------------------------------------------------------------------------


def writer_with_memory(path: Path, interval: float = 0.0) -> TokenWriter:
    text = json.dumps(
        {
            "oauth_config": {"client_id": "cid", "client_secret": "sec", "token_url": "http://t"},
            "projects": [
                {"project_id": "p-one", "refresh_token": "r1", "note": "mine"},
                {"project_id": "p-two", "refresh_token": "r2", "email": "two@example.com"},
            ],
        }
    )
    loaded = parse_tokens(text)
    return TokenWriter(
        path, interval, snapshot=lambda: tokens_document(loaded.oauth, loaded.accounts)
    )


def test_a_deleted_file_is_recreated_whole_from_memory_when_there_is_a_change(
    tmp_path: Path, io_loop: Any, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "tokens.json"
    writer = writer_with_memory(path)

    async def scenario() -> None:
        await writer.flush()
        assert not path.exists()  # nothing to save: nothing written
        writer.record("p-one", access_token="fresh", last_used_at=1800000000)
        await writer.aclose()

    with caplog.at_level(logging.WARNING, "ag2api.accounts"):
        io_loop.run_sync(scenario)
    doc = json.loads(path.read_text())
    assert doc["oauth_config"] == {
        "client_id": "cid",
        "client_secret": "sec",
        "token_url": "http://t",
    }
    one, two = doc["projects"]
    assert (one["project_id"], one["access_token"], one["last_used_at"], one["note"]) == (
        "p-one",
        "fresh",
        1800000000,
        "mine",
    )
    assert (two["project_id"], two["refresh_token"], two["email"]) == (
        "p-two",
        "r2",
        "two@example.com",
    )
    assert read_tokens(path).accounts[1].enabled
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert "was missing: recreated it from the 2 accounts in memory" in caplog.text
    assert writer.writes == 1 and writer.last_error is None


def test_a_writer_with_no_account_in_memory_writes_no_empty_file(
    tmp_path: Path, io_loop: Any
) -> None:
    path = tmp_path / "tokens.json"
    writer = TokenWriter(path, 0.0, snapshot=lambda: tokens_document(None, ()))

    async def scenario() -> None:
        writer.record("p-gone", last_used_at=1)
        await writer.aclose()

    io_loop.run_sync(scenario)
    assert not path.exists()


def test_the_oauth_script_still_creates_a_new_file(tmp_path: Path) -> None:
    path = tmp_path / "new" / "tokens.json"
    update_tokens(
        path, lambda doc: doc["projects"].append({"project_id": "p", "refresh_token": "r"})
    )
    assert [a.project_id for a in read_tokens(path).accounts] == ["p"]


def test_a_document_from_memory_reads_back_the_same() -> None:
    loaded = parse_tokens(
        json.dumps(
            {
                "projects": [
                    {
                        "project_id": "p",
                        "refresh_token": "r",
                        "access_token": "a",
                        "expires_at": 1800000000,
                        "enabled": False,
                        "disabled_reason": "invalid_grant",
                        "cooldowns": {"m": {"until": 1}},
                        "note": "kept",
                    }
                ]
            }
        )
    )
    doc = tokens_document(OAuthConfig("c", "s"), loaded.accounts)
    assert parse_tokens(json.dumps(doc)).accounts == loaded.accounts
    assert doc["projects"][0]["note"] == "kept"


# -- a file that cannot be read ------------------------------------------------------------


def test_invalid_utf8_keeps_the_changes_and_writes_them_once_readable(
    tmp_path: Path, io_loop: Any
) -> None:
    path = tmp_path / "tokens.json"
    one_project(path, note="old")
    good = path.read_bytes()
    path.write_bytes(good.replace(b"old", b"\xff\xfe"))
    writer = TokenWriter(path, interval=0.0)

    async def scenario() -> None:
        writer.record("p-one", access_token="kept", last_used_at=5)
        await writer.flush()  # kept, not lost to a UnicodeDecodeError out of the writer
        assert writer.pending() == {"p-one": {"access_token": "kept", "last_used_at": 5}}
        assert writer.last_error and "not UTF-8 text (byte 0xff at offset" in writer.last_error
        writer.record("p-one", last_used_at=6)  # newer values win over the kept ones
        path.write_bytes(good.replace(b"old", b"fixed"))
        writer.file_changed()  # what the watcher does on the fix
        await writer.wait_for(lambda: writer.pending_count == 0)
        assert writer.last_error is None
        await writer.aclose()

    io_loop.run_sync(scenario)
    entry = json.loads(path.read_text())["projects"][0]
    assert (entry["note"], entry["access_token"], entry["last_used_at"]) == ("fixed", "kept", 6)


def test_a_failed_write_is_retried_with_backoff_without_any_event(
    tmp_path: Path, io_loop: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("ag2api.accounts.writer.RETRY_FIRST", 0.05)
    path = tmp_path / "tokens.json"
    path.write_text('{"projects": [')  # broken, then fixed by hand with nobody telling the writer
    writer = TokenWriter(path, interval=0.0)

    async def scenario() -> None:
        writer.record("p-one", access_token="kept")
        await writer.wait_for(lambda: writer.last_error is not None)
        one_project(path)
        await writer.wait_for(lambda: writer.pending_count == 0)
        await writer.aclose()

    io_loop.run_sync(scenario)
    assert json.loads(path.read_text())["projects"][0]["access_token"] == "kept"


def test_an_unexpected_error_does_not_kill_the_writer(
    tmp_path: Path, io_loop: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "tokens.json"
    one_project(path)
    writer = TokenWriter(path, interval=0.0)
    real = apply_gateway_changes
    calls = []

    def flaky(doc: dict[str, Any], changes: dict[str, dict[str, Any]]) -> None:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("boom")
        real(doc, changes)

    monkeypatch.setattr("ag2api.accounts.writer.apply_gateway_changes", flaky)

    async def scenario() -> None:
        writer.record("p-one", access_token="kept")
        await writer.flush()
        assert writer.pending_count == 1 and "RuntimeError: boom" in (writer.last_error or "")
        await writer.flush()
        await writer.aclose()

    io_loop.run_sync(scenario)
    assert json.loads(path.read_text())["projects"][0]["access_token"] == "kept"


def test_a_folder_in_place_of_the_file_is_one_clear_line(tmp_path: Path) -> None:
    path = tmp_path / "tokens.json"
    path.mkdir()
    with pytest.raises(TokensPathError) as caught:
        read_tokens(path)
    message = str(caught.value)
    assert message.startswith(f"{path} is a folder, not a file") and "\n" not in message
    with pytest.raises(TokensPathError):
        update_tokens(path, lambda doc: None)
