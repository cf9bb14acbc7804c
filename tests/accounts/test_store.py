"""tokens.json: the original format, ms expiry, unknown fields kept, atomic 0600 locked writes."""

from __future__ import annotations

import asyncio
import json
import stat
from pathlib import Path
from typing import Any

import pytest

from ag2api.accounts.store import (
    TokensFileError,
    apply_gateway_changes,
    lock_for,
    parse_tokens,
    read_tokens,
    update_tokens,
)
from ag2api.accounts.writer import TokenWriter

ORIGINAL = {
    "oauth_config": {
        "client_id": "cid",
        "client_secret": "sec",
        "token_url": "https://oauth2.googleapis.com/token",
    },
    "projects": [
        {
            "project_id": "p-one",
            "refresh_token": "r1",
            "access_token": "a1",
            "expires_at": 1767225600000,
            "enabled": True,
            "disabled_reason": None,
            "note": "mine",
            "email": "one@example.com",
        },
        {
            "project_id": "p-two",
            "refresh_token": "r2",
            "access_token": None,
            "expires_at": 1767225600,
            "enabled": False,
            "disabled_reason": "invalid_grant",
        },
    ],
    "comment": "kept",
}


def test_original_format_and_millisecond_expiry() -> None:
    tokens = parse_tokens(json.dumps(ORIGINAL))
    assert tokens.oauth is not None and tokens.oauth.client_id == "cid"
    one, two = tokens.accounts
    assert one.expires_at == 1767225600.0 == two.expires_at
    assert one.email == "one@example.com" and one.access_token == "a1"
    assert (two.enabled, two.disabled_reason, two.access_token) == (False, "invalid_grant", None)


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ("{", "invalid JSON"),
        ("[]", "top level must be an object"),
        ('{"projects": {}}', "'projects' must be a list"),
        ('{"projects": [{"refresh_token": "r"}]}', "project_id must be a non-empty string"),
        ('{"projects": [{"project_id": "p"}]}', "refresh_token must be a non-empty string"),
        (
            '{"projects": [{"project_id": "p", "refresh_token": "r"}, '
            '{"project_id": "p", "refresh_token": "s"}]}',
            "appears twice",
        ),
        ('{"oauth_config": {"client_id": "x"}}', "needs client_id and client_secret"),
    ],
)
def test_bad_files_are_refused_with_a_reason(doc: str, message: str) -> None:
    with pytest.raises(TokensFileError, match=message):
        parse_tokens(doc)


def test_missing_file_is_an_empty_pool(tmp_path: Path) -> None:
    assert read_tokens(tmp_path / "none.json").accounts == ()


def test_gateway_write_changes_only_its_fields_and_keeps_the_rest(tmp_path: Path) -> None:
    path = tmp_path / "tokens.json"
    path.write_text(json.dumps(ORIGINAL))
    changes = {
        "p-one": {"access_token": "new", "expires_at": 1800000000, "note": "hijack"},
        "p-gone": {"enabled": False},
    }
    update_tokens(path, lambda doc: apply_gateway_changes(doc, changes))
    doc = json.loads(path.read_text())
    assert doc["comment"] == "kept"
    one = doc["projects"][0]
    assert (one["access_token"], one["expires_at"], one["note"]) == ("new", 1800000000, "mine")
    assert [p["project_id"] for p in doc["projects"]] == ["p-one", "p-two"]  # not resurrected
    assert doc["projects"][1] == ORIGINAL["projects"][1]


def test_writes_are_atomic_0600_and_leave_no_temp_files(tmp_path: Path) -> None:
    path = tmp_path / "tokens.json"
    path.write_text(json.dumps(ORIGINAL))
    path.chmod(0o644)
    update_tokens(path, lambda doc: doc.update(x=1))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tokens.json", "tokens.json.lock"]


def test_an_unparsable_file_is_never_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "tokens.json"
    path.write_text('{"projects": [')
    with pytest.raises(TokensFileError):
        update_tokens(path, lambda doc: doc.update(x=1))
    assert path.read_text() == '{"projects": ['


def test_writer_waits_for_the_lock(tmp_path: Path, io_loop: Any) -> None:
    path = tmp_path / "tokens.json"
    path.write_text(json.dumps(ORIGINAL))
    writer = TokenWriter(path, interval=0.0)

    async def scenario() -> None:
        with lock_for(path):
            writer.record("p-one", access_token="locked-out")
            task = asyncio.ensure_future(writer.flush())
            # The flush thread blocks on the lock another holder has: nothing is written.
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(asyncio.shield(task), 0.3)
            assert json.loads(path.read_text())["projects"][0]["access_token"] == "a1"
        await task
        await writer.aclose()

    io_loop.run_sync(scenario)
    assert json.loads(path.read_text())["projects"][0]["access_token"] == "locked-out"


def test_writer_plans_a_lazy_write_once_for_many_uses(tmp_path: Path, io_loop: Any) -> None:
    """A last use is recorded on every request: the write it plans is planned once, not moved
    (a timer cancelled and made again) by each request that follows."""
    path = tmp_path / "tokens.json"
    path.write_text(json.dumps(ORIGINAL))
    writer = TokenWriter(path, interval=1.0, lazy_interval=60.0)

    async def scenario() -> None:
        writer.record("p-one", last_used_at=1)
        await writer.flush()  # written at once: nothing was written yet
        writer.record("p-one", last_used_at=2)
        planned = writer._timer
        assert planned is not None
        for i in range(3, 50):
            writer.record("p-one", last_used_at=i)
        assert writer._timer is planned and not planned.cancelled()
        await writer.aclose()

    io_loop.run_sync(scenario)
    assert json.loads(path.read_text())["projects"][0]["last_used_at"] == 49


def test_writer_coalesces_many_changes_into_few_writes(tmp_path: Path, io_loop: Any) -> None:
    path = tmp_path / "tokens.json"
    path.write_text(json.dumps(ORIGINAL))
    writer = TokenWriter(path, interval=1.0)

    async def scenario() -> None:
        for i in range(200):
            writer.record("p-one", last_used_at=i)
            writer.record("p-two", last_used_at=1000 + i)
        await writer.aclose()

    io_loop.run_sync(scenario)
    doc = json.loads(path.read_text())
    assert [p["last_used_at"] for p in doc["projects"]] == [199, 1199]
    assert writer.writes == 1
