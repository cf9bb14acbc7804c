"""Refresh and access tokens encrypted at rest: tokens.json (memory backend), Redis, the
encrypt/decrypt commands; a restart, a wrong or missing key, a hand edit."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import openai
import pytest
import yaml

from ag2api.accounts.crypto import PREFIX, TokenCipher
from ag2api.accounts.store import update_tokens
from ag2api.cli import main
from ag2api.config.live import read_config
from ag2api.server.reload import Reloader
from ag2api.server.watch import FileWatcher
from ag2api.services import Services, build_services
from ag2api.testing.fake_upstream import FakeUpstream
from tests.support.files import token_entries
from tests.support.helpers import chat_text

KEY = "correct horse battery staple 42"
OTHER_KEY = "another key, not the one used"


@pytest.fixture
def config_overrides(tmp_path: Path) -> dict[str, Any]:
    (tmp_path / "secret.key").write_text(KEY + "\n")
    return {"secrets": {"key_file": "secret.key"}}


def seal_file(path: Path, key: str) -> None:
    update_tokens(path, lambda doc: None, cipher=TokenCipher(key.encode()))


async def test_tokens_are_sealed_when_written_and_read_after_a_restart(
    client: openai.AsyncOpenAI,
    fake: FakeUpstream,
    services: Services,
    tokens_path: Path,
    config_path: Path,
) -> None:
    plain = json.loads(tokens_path.read_text())
    assert (await chat_text(client)).endswith("You said: hi")
    await services.writer.flush()
    text = tokens_path.read_text()
    stored = token_entries(tokens_path)
    assert all(p["refresh_token"].startswith(PREFIX) for p in stored)  # all, not only alpha's
    assert stored[0]["access_token"].startswith(PREFIX)
    assert "rt-one" not in text and "ya29" not in text
    # Otherwise the seed's format, unchanged.
    assert json.loads(text)["oauth_config"] == plain["oauth_config"]
    assert [p["project_id"] for p in stored] == [p["project_id"] for p in plain["projects"]]
    token = services.pool.accounts[0].access_token

    restarted = build_services(read_config(config_path, environ={}))
    try:
        assert restarted.tokens_error is None
        assert [a.refresh_token for a in restarted.pool.accounts] == [
            "rt-one",
            "rt-two",
            "rt-three",
        ]
        alpha = restarted.pool.accounts[0]
        assert await restarted.refresher.access_token(alpha) == token  # no new sign-in, no refresh
        assert fake.refresh_calls["rt-one"] == 1
    finally:
        await restarted.aclose()


@pytest.mark.parametrize("key", [OTHER_KEY, None], ids=["wrong-key", "no-key"])
async def test_a_wrong_or_missing_key_names_the_accounts_and_writes_nothing(
    fake: FakeUpstream, tokens_path: Path, config_path: Path, key: str | None
) -> None:
    seal_file(tokens_path, KEY)
    doc = yaml.safe_load(config_path.read_text())
    if key is None:
        doc.pop("secrets")
    else:
        (config_path.parent / "secret.key").write_text(key)
    config_path.write_text(yaml.safe_dump(doc))
    before = tokens_path.read_bytes()
    services = build_services(read_config(config_path, environ={}))
    try:
        error = services.tokens_error or ""
        assert "cannot read the tokens of 3 account(s)" in error
        assert "proj…0001" in error and "proj…0003" in error
        assert ("no key is set" if key is None else "the key does not open them") in error
        assert services.pool.accounts == ()
        # A hand-added plaintext entry is read (and served) beside them.
        fake.add_account("rt-hand", "proj-hand-0004")
        hand = {"project_id": "proj-hand-0004", "refresh_token": "rt-hand"}
        watcher = FileWatcher(services.config, Reloader(services))
        watcher.start()
        try:
            await asyncio.wait_for(watcher.ready.wait(), 10)
            update_tokens(tokens_path, lambda d: d["projects"].append(hand))
            await watcher.wait_for(lambda: len(services.pool.accounts) == 1)
        finally:
            await watcher.stop()
        assert "cannot read the tokens of 3 account(s)" in (services.tokens_error or "")
        services.writer.record("proj-hand-0004", last_used_at=1)
        await services.writer.flush()
        sealed_before = json.loads(before)["projects"]
        assert token_entries(tokens_path)[:3] == sealed_before  # never overwritten
    finally:
        await services.aclose()


async def test_a_plaintext_entry_added_by_hand_is_sealed_at_the_next_write(
    client: openai.AsyncOpenAI,
    fake: FakeUpstream,
    services: Services,
    watcher: FileWatcher,
    tokens_path: Path,
) -> None:
    await chat_text(client)
    await services.writer.flush()
    fake.add_account("rt-hand", "proj-hand-0004")
    doc = json.loads(tokens_path.read_text())
    doc["projects"].append({"project_id": "proj-hand-0004", "refresh_token": "rt-hand"})
    tokens_path.write_text(json.dumps(doc, indent=2))  # an editor's save, without the lock
    await watcher.wait_for(lambda: services.pool.get("proj-hand-0004") is not None)
    services.pool.rotation_count = 1
    for _ in range(4):
        await chat_text(client)
    await services.writer.flush()
    hand = token_entries(tokens_path)[3]
    assert hand["refresh_token"].startswith(PREFIX) and "rt-hand" not in tokens_path.read_text()


def test_encrypt_and_decrypt_commands(
    tokens_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("AG2API_SECRET_KEY", KEY)
    plain = token_entries(tokens_path)
    assert main(["accounts", "--tokens", str(tokens_path), "encrypt"]) == 0
    assert "3 token(s) encrypted" in capsys.readouterr().out
    sealed = token_entries(tokens_path)
    assert all(p["refresh_token"].startswith(PREFIX) for p in sealed)
    monkeypatch.setenv("AG2API_SECRET_KEY", OTHER_KEY)
    before = tokens_path.read_bytes()
    assert main(["accounts", "--tokens", str(tokens_path), "decrypt"]) == 1
    err = capsys.readouterr().err
    assert (
        "cannot read the tokens of 3 account(s) (proj…0001" in err and "nothing was written" in err
    )
    assert tokens_path.read_bytes() == before
    monkeypatch.setenv("AG2API_SECRET_KEY", KEY)
    assert main(["accounts", "--tokens", str(tokens_path), "decrypt"]) == 0
    assert token_entries(tokens_path) == plain
    monkeypatch.delenv("AG2API_SECRET_KEY")
    assert main(["accounts", "--tokens", str(tokens_path), "encrypt"]) == 1
    assert "no key" in capsys.readouterr().err
