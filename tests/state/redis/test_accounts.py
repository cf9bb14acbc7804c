"""Accounts across replicas on one Redis: with a key set the tokens they share (access tokens in
``tok:``, rotated refresh tokens in ``rtok``) are sealed like those in tokens.json — read back
after a restart, never opened nor mixed in by a replica with another key, a hand-added entry
sealed by the leader — and an account a recheck puts back is back on every replica."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from ag2api.accounts.crypto import PREFIX, TokenCipher
from ag2api.accounts.store import read_tokens, update_tokens
from ag2api.config.schema import GatewayConfig
from ag2api.state.base import account_key
from ag2api.state.redis.client import token_digest
from ag2api.testing.fake_upstream import FakeUpstream
from tests.support.clock import FakeClock
from tests.support.files import token_entries
from tests.support.gateways import Gateway
from tests.support.helpers import chat_text
from tests.support.redis_server import RedisServer
from tests.support.replicas import (
    eventually,
    leader_of,
    not_,
    replicas,
    state_config,
    watching,
)

KEY = "correct horse battery staple 42"
ALPHA = "proj-alpha-0001"


def file_token(path: Path, project_id: str) -> str | None:
    """The refresh token tokens.json holds for ``project_id``, opened with the key."""
    for account in read_tokens(path, TokenCipher(KEY.encode())).accounts:
        if account.project_id == project_id:
            return account.refresh_token
    return None


OTHER_KEY = "another key, not the one used"
HAND = {"project_id": "proj-hand-0004", "refresh_token": "rt-hand"}


@pytest.fixture
def config_overrides(tmp_path: Path, redis_server: RedisServer, key_prefix: str) -> dict[str, Any]:
    (tmp_path / "secret.key").write_text(KEY + "\n")
    return {"secrets": {"key_file": "secret.key"}, **state_config(redis_server.url, key_prefix)}


async def test_redis_holds_only_sealed_tokens(
    fake: FakeUpstream,
    config_path: Path,
    tokens_path: Path,
    redis_server: RedisServer,
    key_prefix: str,
) -> None:
    async with replicas(config_path) as group:
        leader, other = await leader_of(group)
        for r in group:
            r.services.pool.rotation_count = 1000
        fake.rotate_refresh_tokens = True
        assert (await chat_text(other.client)).endswith("You said: hi")
        fake.rotate_refresh_tokens = False
        new = next(t for t, a in fake.accounts.items() if t.startswith("rt-one~"))
        redis = leader.services.state.client.redis  # type: ignore[attr-defined]
        values = [await redis.get(k) async for k in redis.scan_iter(match=key_prefix + "tok:*")]
        values += list((await redis.hgetall(key_prefix + "rtok")).values())
        assert values and all(v.decode().split("|")[-1].startswith(PREFIX) for v in values)
        assert not any(b"ya29" in v or b"rt-one" in v for v in values)
        # The other replica opens them: it adopts the rotated token and reuses the access token.
        await eventually(lambda: leader.services.pool.accounts[0].refresh_token == new)
        fake.refresh_calls.clear()
        assert (await chat_text(leader.client)).endswith("You said: hi")
        assert sum(fake.refresh_calls.values()) == 0
        # And tokens.json, which the leader writes, the same.
        await asyncio.gather(*(r.services.writer.flush() for r in group))
        await eventually(lambda: PREFIX in tokens_path.read_text())
        assert "rt-one" not in tokens_path.read_text() and "ya29" not in tokens_path.read_text()


async def test_a_recheck_on_the_leader_puts_the_account_back_on_every_replica(
    fake: FakeUpstream, config_path: Path
) -> None:
    """Replicas with their own copy of tokens.json (no shared file to reload) still follow."""
    async with replicas(config_path) as group:
        leader, other = await leader_of(group)
        fake.accounts["rt-one"].needs_verification = True
        reason = "VALIDATION_REQUIRED: verify — verify at https://accounts.google.com/signin/x"
        leader.services.state.disable(leader.services.pool.accounts[0], reason)
        await eventually(lambda: not other.services.pool.accounts[0].enabled)
        fake.accounts["rt-one"].needs_verification = False

        clock = FakeClock()
        for r in group:
            r.services.recheck.clock = clock.monotonic
        await asyncio.gather(*(r.services.recheck.run_once() for r in group))
        clock.advance(600)
        assert await other.services.recheck.run_once() == 0  # not the tokens.json writer
        assert await leader.services.recheck.run_once() == 1
        await eventually(lambda: other.services.pool.accounts[0].enabled)
        other.services.pool.rotation_count = 1000
        assert (await chat_text(other.client)).endswith("You said: hi")
        assert fake.generate_requests()[-1].body["project"] == "proj-alpha-0001"


async def test_chained_rotations_and_removed_projects(
    fake: FakeUpstream, config_path: Path, key_prefix: str
) -> None:
    """Two rotations before the leader syncs (or during a Redis outage) keep every replaced
    token's digest, so a replica still holding the oldest one adopts the newest; a project gone
    from tokens.json takes its entry with it."""
    async with replicas(config_path) as group:
        leader, other = await leader_of(group)
        redis = leader.services.state.client.redis  # type: ignore[attr-defined]
        account = other.services.pool.accounts[0]
        state = other.services.state
        for token in ("rt-one~1", "rt-one~2"):  # as two refreshes on B would leave them
            previous, account.refresh_token = account.refresh_token, token
            await state.store_refresh_token(account, previous)
        entry = (await redis.hget(key_prefix + "rtok", account_key(ALPHA))).decode()
        replaced, new, sealed = entry.split("|")
        assert replaced == f"{token_digest('rt-one')},{token_digest('rt-one~1')}"
        assert new == token_digest("rt-one~2")
        assert TokenCipher(KEY.encode()).open(sealed, "refresh_token") == "rt-one~2"
        await eventually(lambda: leader.services.pool.accounts[0].refresh_token == "rt-one~2")
        # A host whose file still says the first token (or the one between) catches up too.
        for older in ("rt-one", "rt-one~1"):
            leader.services.pool.accounts[0].refresh_token = older
            await eventually(lambda: leader.services.pool.accounts[0].refresh_token == "rt-one~2")
        # An entry for a project missing from tokens.json is removed by the leader.
        await redis.hset(key_prefix + "rtok", "acct_0000000000000000", "abc|rt-gone")
        await eventually(lambda: not_(redis.hexists(key_prefix + "rtok", "acct_0000000000000000")))
        assert await redis.hexists(key_prefix + "rtok", account_key(ALPHA))


async def test_a_refresh_token_rotated_on_a_non_leader_is_kept(
    fake: FakeUpstream, config_path: Path, tokens_path: Path, key_prefix: str
) -> None:
    """Google may answer a refresh with a new refresh token and retire the old one. Only the
    leader writes tokens.json: a rotation on another replica reaches the file and every replica
    through Redis, so no replica refreshes with the dead token and a restart loses nothing."""
    async with replicas(config_path) as group:
        leader, other = await leader_of(group)
        for r in group:
            r.services.pool.rotation_count = 1000  # every request on alpha
        fake.rotate_refresh_tokens = True
        assert (await chat_text(other.client)).endswith("You said: hi")  # refreshes, rotated
        fake.rotate_refresh_tokens = False
        assert fake.accounts["rt-one"].revoked
        new = next(
            t for t, acc in fake.accounts.items() if acc.project_id == ALPHA and not acc.revoked
        )
        assert new.startswith("rt-one~")
        await eventually(lambda: leader.services.pool.accounts[0].refresh_token == new)
        await asyncio.gather(*(r.services.writer.flush() for r in group))
        await eventually(lambda: file_token(tokens_path, ALPHA) == new)
        assert other.services.writer.writes == 0  # the leader wrote it
        # The access token dies: the leader's refresh must use the new refresh token.
        fake.revoke_tokens(new)
        fake.refresh_calls.clear()
        assert (await chat_text(leader.client)).endswith("You said: hi")
        assert dict(fake.refresh_calls) == {new: 1}
        assert all(r.services.pool.accounts[0].enabled for r in group)
        # A new login since (written to tokens.json): the rotation is void, the leader removes
        # it, and no replica goes back to the rotated token.
        redis = leader.services.state.client.redis  # type: ignore[attr-defined]
        assert await redis.hlen(key_prefix + "rtok") == 1

        def relogin(doc: dict[str, Any]) -> None:
            doc["projects"][0]["refresh_token"] = "rt-one-relogin"

        async with watching(group):
            update_tokens(tokens_path, relogin, cipher=TokenCipher(KEY.encode()))
            await eventually(lambda: not_(redis.hlen(key_prefix + "rtok")))
            for r in group:
                await eventually(
                    lambda r=r: r.services.pool.accounts[0].refresh_token == "rt-one-relogin"
                )


async def seal_through(gateway: Gateway, tokens_path: Path) -> None:
    """``gateway`` (the only replica: the leader) serves once and writes tokens.json sealed."""
    await eventually(gateway.services.state.is_writer)  # type: ignore[attr-defined]
    gateway.services.pool.rotation_count = 1000
    assert (await chat_text(gateway.client)).endswith("You said: hi")
    await gateway.services.writer.flush()
    assert PREFIX in tokens_path.read_text() and "rt-one" not in tokens_path.read_text()


def add_by_hand(tokens_path: Path) -> None:
    """A person appends a plaintext entry with an editor (no lock)."""
    doc = json.loads(tokens_path.read_text())
    doc["projects"].append(dict(HAND))
    tokens_path.write_text(json.dumps(doc, indent=2))


async def serve_on(gateway: Gateway, fake: FakeUpstream, project: str) -> None:
    """Requests on ``gateway`` (rotating every request) until one is served by ``project``."""
    gateway.services.pool.rotation_count = 1
    for _ in range(8):
        assert (await chat_text(gateway.client)).endswith("You said: hi")
        if fake.generate_requests()[-1].body["project"] == project:
            return
    raise AssertionError(f"{project} never served")


async def test_a_restart_opens_the_sealed_file_and_the_shared_tokens(
    fake: FakeUpstream, config_path: Path, tokens_path: Path
) -> None:
    async with replicas(config_path, 1) as (first,):
        await seal_through(first, tokens_path)
    refreshes = sum(fake.refresh_calls.values())
    async with replicas(config_path) as group:  # every replica restarted
        for r in group:
            assert r.services.tokens_error is None
            assert [a.refresh_token for a in r.services.pool.accounts] == [
                "rt-one",
                "rt-two",
                "rt-three",
            ]
            r.services.pool.rotation_count = 1000
            assert (await chat_text(r.client)).endswith("You said: hi")
        assert sum(fake.refresh_calls.values()) == refreshes  # the sealed access token served


async def test_a_replica_with_another_key_opens_nothing_sealed_and_seals_nothing(
    fake: FakeUpstream, config_path: Path, tokens_path: Path, tmp_path: Path
) -> None:
    async with replicas(config_path, 1) as (first,):
        await seal_through(first, tokens_path)
    sealed = token_entries(tokens_path)
    (tmp_path / "other.key").write_text(OTHER_KEY)

    def other_key(cfg: GatewayConfig, _: int) -> GatewayConfig:
        return replace(cfg, secrets=replace(cfg.secrets, key_file=tmp_path / "other.key"))

    fake.add_account("rt-hand", "proj-hand-0004")
    async with replicas(config_path, 1, other_key) as (wrong,):
        error = wrong.services.tokens_error or ""
        assert "cannot read the tokens of 3 account(s)" in error
        assert "the key does not open them" in error and "proj…0001" in error
        assert wrong.services.pool.accounts == ()
        await eventually(wrong.services.state.is_writer)  # type: ignore[attr-defined]
        async with watching([wrong]):
            add_by_hand(tokens_path)
            await eventually(lambda: len(wrong.services.pool.accounts) == 1)
        # It serves the entry it can read, but does not seal it with its key beside the others.
        assert (await chat_text(wrong.client)).endswith("You said: hi")
        await wrong.services.writer.flush()
        assert "cannot read the tokens of 3 account(s)" in (wrong.services.writer.last_error or "")
        stored = token_entries(tokens_path)
        assert stored[:3] == sealed and stored[3]["refresh_token"] == "rt-hand"
    # Back with the right key: all four open; the access token the other key sealed in Redis
    # is not one this key opens, so it is fetched again; the hand entry is sealed with this key.
    hand_refreshes = fake.refresh_calls["rt-hand"]
    async with replicas(config_path, 1) as (right,):
        assert right.services.tokens_error is None and len(right.services.pool.accounts) == 4
        await eventually(right.services.state.is_writer)  # type: ignore[attr-defined]
        await serve_on(right, fake, "proj-hand-0004")
        assert fake.refresh_calls["rt-hand"] == hand_refreshes + 1
        await right.services.writer.flush()
    stored = token_entries(tokens_path)
    assert stored[3]["refresh_token"].startswith(PREFIX) and "rt-hand" not in json.dumps(stored)


async def test_an_entry_added_by_hand_is_sealed_by_the_leader_and_shared_sealed(
    fake: FakeUpstream,
    config_path: Path,
    tokens_path: Path,
    redis_server: RedisServer,
    key_prefix: str,
) -> None:
    fake.add_account("rt-hand", "proj-hand-0004")
    async with replicas(config_path) as group, watching(group):
        leader, other = await leader_of(group)
        add_by_hand(tokens_path)
        for r in group:
            await eventually(lambda r=r: r.services.pool.get("proj-hand-0004") is not None)
        await serve_on(leader, fake, "proj-hand-0004")
        await leader.services.writer.flush()
        await eventually(lambda: "rt-hand" not in tokens_path.read_text())
        assert token_entries(tokens_path)[3]["refresh_token"].startswith(PREFIX)
        redis = leader.services.state.client.redis  # type: ignore[attr-defined]
        values = [await redis.get(k) async for k in redis.scan_iter(match=key_prefix + "tok:*")]
        assert values and all(v.decode().startswith(PREFIX) for v in values)
        # The other replica opens the token the leader shared for it: no refresh of its own.
        await serve_on(other, fake, "proj-hand-0004")
        assert fake.refresh_calls["rt-hand"] == 1
