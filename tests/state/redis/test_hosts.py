"""Two gateways as on two hosts — separate folders, each its own gateway.yaml, tokens.json and
ledger — sharing one pool through a real Redis: what changes on one reaches the other's file and
pool within seconds, versioned per field, and nothing is lost to a flush or a late start."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import openai
import pytest
from tornado.httpclient import AsyncHTTPClient, HTTPRequest

from ag2api.accounts.cli import account_rows
from ag2api.accounts.crypto import PREFIX
from ag2api.accounts.ledger import read_ledger
from ag2api.cli import main
from ag2api.testing.fake_upstream import FakeUpstream
from tests.support.helpers import chat_text
from tests.support.hosts import Host, HostFiles, host_folder, running
from tests.support.redis_server import RedisServer
from tests.support.replicas import eventually
from tests.support.upstream import projects

ALPHA, BETA, GAMMA = "proj-alpha-0001", "proj-beta-0002", "proj-gamma-0003"
SYNCED = 5.0  # the promise: a change on one host is in force on every host within 5 s


@pytest.fixture
def two(
    tmp_path: Path,
    config_doc: dict[str, Any],
    tokens_path: Path,
    redis_server: RedisServer,
    key_prefix: str,
) -> tuple[HostFiles, HostFiles]:
    return (
        host_folder(tmp_path, "host-a", config_doc, tokens_path, redis_server.url, key_prefix),
        host_folder(tmp_path, "host-b", config_doc, tokens_path, redis_server.url, key_prefix),
    )


def imported(tmp_path: Path, fake: FakeUpstream) -> Path:
    """A tokens.json of another gateway holding one new account."""
    fake.add_account("rt-delta", "proj-delta-0004", "delta@example.com")
    path = tmp_path / "other-tokens.json"
    entry = {"project_id": "proj-delta-0004", "refresh_token": "rt-delta", "enabled": True}
    path.write_text(json.dumps({"projects": [{**entry, "email": "delta@example.com"}]}))
    return path


async def test_an_import_on_a_serves_from_b(
    fake: FakeUpstream, tmp_path: Path, two: tuple[HostFiles, HostFiles]
) -> None:
    async with running(*two) as (a, b):
        source = imported(tmp_path, fake)
        assert main(["accounts", "--config", str(a.files.config), "import", str(source)]) == 0
        await eventually(lambda: b.services.pool.get("proj-delta-0004") is not None, SYNCED)
        entry = b.files.projects()["proj-delta-0004"]
        assert entry["refresh_token"].startswith(PREFIX)  # sealed on B with B's key too
        assert entry["email"] == "delta@example.com"
        assert oct(b.files.tokens.stat().st_mode & 0o777) == "0o600"
        for other in (ALPHA, BETA, GAMMA):
            b.services.pool.get(other).enabled = False  # type: ignore[union-attr]
        assert (await chat_text(b.client)).endswith("You said: hi")
        assert projects(fake)[-1] == "proj-delta-0004"
        # In Redis the refresh token is sealed: no host's key-less copy, no plaintext.
        redis = a.services.state.client.redis  # type: ignore[attr-defined]
        prefix = a.services.state.client.prefix  # type: ignore[attr-defined]
        values = [
            v async for k in redis.scan_iter(match=prefix + "acct:*") for v in await redis.hvals(k)
        ]
        assert values and not any(b"rt-" in v for v in values)
        assert read_ledger(b.files.tokens).projects["proj-delta-0004"].added.host == "host-a"  # type: ignore[union-attr]


def _stamp(files: HostFiles, project_id: str, field: str) -> tuple[str, bool]:
    stamp = read_ledger(files.tokens).projects[project_id].fields[field].stamp
    return stamp.host, stamp.person


def edit_tokens(files: HostFiles, change: Any) -> None:
    """A hand edit of the host's tokens.json (no lock: as an editor saves)."""
    doc = json.loads(files.tokens.read_text())
    change(doc["projects"])
    files.tokens.write_text(json.dumps(doc, indent=2))


async def test_a_disable_and_a_removal_on_b_stop_a_using_them(
    fake: FakeUpstream, two: tuple[HostFiles, HostFiles]
) -> None:
    async with running(*two) as (a, b):
        assert (
            main(
                [
                    "accounts",
                    "--config",
                    str(b.files.config),
                    "disable",
                    BETA,
                    "--reason",
                    "kept for the IDE",
                ]
            )
            == 0
        )
        edit_tokens(b.files, lambda ps: ps.remove(next(p for p in ps if p["project_id"] == GAMMA)))
        await eventually(lambda: a.services.pool.get(GAMMA) is None, SYNCED)
        await eventually(lambda: not a.services.pool.get(BETA).enabled, SYNCED)  # type: ignore[union-attr]
        assert a.files.projects()[BETA]["disabled_reason"] == "kept for the IDE"
        assert GAMMA not in a.files.projects()
        a.services.pool.rotation_count = 1
        for i in range(4):
            await chat_text(a.client, stream=bool(i % 2))
        assert set(projects(fake)) == {ALPHA}
        ledger = read_ledger(a.files.tokens)
        assert not ledger.projects[GAMMA].present and ledger.projects[GAMMA].gone.host == "host-b"  # type: ignore[union-attr]
        assert ledger.projects[BETA].fields["enabled"].stamp.person
        # ag2api accounts' table (the request log shares standard output: read the rows).
        rows = {row[1]: row for row in account_rows(a.files.tokens)}
        assert rows["PROJECT"][-1] == "LAST CHANGE"
        assert rows["proj…0002"][-1].startswith("host-b ")
        assert rows["proj…0001"][-1].endswith("(first sync)")
        health = await a.health()
        sharing = health["accounts"]["sharing"]
        assert sharing["host"] == "host-a" and sharing["tokens_shared"] is True
        assert {h["host"] for h in sharing["hosts"]} == {"host-a", "host-b"}
        assert sharing["last_sync"] and sharing["pending"] == 0


async def test_edits_on_both_hosts_at_once_converge_with_nothing_lost(
    fake: FakeUpstream, two: tuple[HostFiles, HostFiles]
) -> None:
    async with running(*two) as (a, b):

        def on_a(ps: list[dict[str, Any]]) -> None:
            ps[0]["proxy"] = "http://proxy-a.example:3128"
            ps[2]["user_agent"] = "agent/a"

        def on_b(ps: list[dict[str, Any]]) -> None:
            ps[0].update(enabled=False, disabled_reason="paused by b")
            ps[1]["use_credits"] = True
            ps[2]["user_agent"] = "agent/b"

        edit_tokens(a.files, on_a)
        edit_tokens(b.files, on_b)

        def converged() -> bool:
            one, two_ = a.files.projects(), b.files.projects()
            keys = ("enabled", "disabled_reason", "proxy", "user_agent", "use_credits")
            return all(
                {k: one[p].get(k) for k in keys} == {k: two_[p].get(k) for k in keys}
                for p in (ALPHA, BETA, GAMMA)
            )

        await eventually(converged, SYNCED)
        final = a.files.projects()
        assert final[ALPHA]["proxy"] == "http://proxy-a.example:3128"  # A's edit
        assert final[ALPHA]["enabled"] is False  # and B's, of the same account
        assert final[ALPHA]["disabled_reason"] == "paused by b"
        assert final[BETA]["use_credits"] is True
        assert final[GAMMA]["user_agent"] in ("agent/a", "agent/b")  # one winner everywhere
        for host in (a, b):
            await eventually(lambda host=host: host.services.pool.get(ALPHA).proxy is not None)  # type: ignore[union-attr]
            assert not host.services.pool.get(ALPHA).enabled  # type: ignore[union-attr]


async def test_a_runtime_disable_travels_and_a_later_login_on_the_other_host_wins(
    fake: FakeUpstream, two: tuple[HostFiles, HostFiles]
) -> None:
    fake.accounts["rt-one"].revoked = True  # alpha's refresh answers invalid_grant
    async with running(*two) as (a, b):
        await chat_text(a.client)  # A meets the dead token and takes alpha out
        await eventually(lambda: b.files.projects()[ALPHA]["enabled"] is False, SYNCED)
        assert "invalid_grant" in b.files.projects()[ALPHA]["disabled_reason"]
        # The gateway's change, on host A (the ledger is written just after tokens.json).
        await eventually(lambda: _stamp(b.files, ALPHA, "enabled") == ("host-a", False))
        # A person signs in again on B: a new refresh token, enabled.
        fake.add_account("rt-one-new", ALPHA)
        edit_tokens(
            b.files,
            lambda ps: ps[0].update(refresh_token="rt-one-new", enabled=True, disabled_reason=None),
        )
        await eventually(lambda: a.services.pool.get(ALPHA).enabled, SYNCED)  # type: ignore[union-attr]
        assert a.services.pool.get(ALPHA).refresh_token == "rt-one-new"  # type: ignore[union-attr]
        assert a.files.projects()[ALPHA]["refresh_token"].startswith(PREFIX)
        for other in (BETA, GAMMA):
            a.services.pool.get(other).enabled = False  # type: ignore[union-attr]
        fake.requests.clear()
        assert (await chat_text(a.client)).endswith("You said: hi")
        assert projects(fake) == [ALPHA]


async def test_a_host_that_starts_late_catches_up_before_it_serves_and_keeps_its_own_edits(
    fake: FakeUpstream, tmp_path: Path, two: tuple[HostFiles, HostFiles]
) -> None:
    a_files, b_files = two
    async with running(b_files):
        pass  # B has synced once: its ledger knows the pool
    async with running(a_files) as (a,):
        assert main(["accounts", "--config", str(a.files.config), "disable", ALPHA]) == 0
        assert (
            main(
                [
                    "accounts",
                    "--config",
                    str(a.files.config),
                    "import",
                    str(imported(tmp_path, fake)),
                ]
            )
            == 0
        )
        edit_tokens(a.files, lambda ps: ps.remove(next(p for p in ps if p["project_id"] == GAMMA)))
        await eventually(lambda: a.services.state.snapshot().sharing.pending == 0)  # type: ignore[union-attr]
        # B, stopped, is edited meanwhile.
        edit_tokens(b_files, lambda ps: ps[1].update(proxy="socks5://proxy-b.example:1080"))
        async with running(b_files) as (b,):
            # Caught up before serving: no wait.
            pool = b.services.pool
            assert not pool.get(ALPHA).enabled and pool.get(GAMMA) is None  # type: ignore[union-attr]
            assert pool.get("proj-delta-0004") is not None
            assert pool.get(BETA).proxy == "socks5://proxy-b.example:1080"  # type: ignore[union-attr]
            await eventually(
                lambda: a.files.projects()[BETA].get("proxy") == "socks5://proxy-b.example:1080",
                SYNCED,
            )
            assert set(b.files.projects()) == set(a.files.projects())


@pytest.mark.timeout(seconds=60)
async def test_a_flush_and_a_redis_restart_lose_nothing(
    fake: FakeUpstream,
    tmp_path: Path,
    config_doc: dict[str, Any],
    tokens_path: Path,
    own_redis: RedisServer,
    key_prefix: str,
) -> None:
    files = [
        host_folder(tmp_path, name, config_doc, tokens_path, own_redis.url, key_prefix)
        for name in ("host-a", "host-b")
    ]
    async with running(*files) as (a, b):
        assert main(["accounts", "--config", str(a.files.config), "disable", ALPHA]) == 0
        await eventually(lambda: b.files.projects()[ALPHA]["enabled"] is False, SYNCED)
        redis = a.services.state.client.redis  # type: ignore[attr-defined]
        await redis.flushall()
        # Both republish what they hold; a change made after the flush travels as before, and
        # the one made before it is not undone by the stale copy either host could bring back.
        edit_tokens(b.files, lambda ps: ps[1].update(user_agent="agent/after-flush"))
        await eventually(
            lambda: a.files.projects()[BETA].get("user_agent") == "agent/after-flush", SYNCED
        )
        assert a.files.projects()[ALPHA]["enabled"] is False
        assert await redis.exists(key_prefix + "acct:" + _acct(ALPHA))
        own_redis.kill()
        edit_tokens(a.files, lambda ps: ps[2].update(enabled=False, disabled_reason="while down"))
        own_redis.start()
        await eventually(lambda: b.files.projects()[GAMMA]["enabled"] is False, 20)
        await eventually(lambda: not b.services.pool.get(GAMMA).enabled, SYNCED)  # type: ignore[union-attr]
        assert b.files.projects()[BETA]["user_agent"] == "agent/after-flush"
        assert b.files.projects()[ALPHA]["enabled"] is False


def _acct(project_id: str) -> str:
    from ag2api.state.base import account_key

    return account_key(project_id)


async def test_without_a_key_hosts_share_everything_but_the_refresh_tokens(
    fake: FakeUpstream,
    tmp_path: Path,
    config_doc: dict[str, Any],
    tokens_path: Path,
    redis_server: RedisServer,
    key_prefix: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    files = [
        host_folder(tmp_path, n, config_doc, tokens_path, redis_server.url, key_prefix, key=None)
        for n in ("host-a", "host-b")
    ]
    async with running(*files) as (a, b):
        assert any("no key is set" in r.getMessage() for r in caplog.records)
        source = imported(tmp_path, fake)
        assert main(["accounts", "--config", str(a.files.config), "import", str(source)]) == 0
        assert main(["accounts", "--config", str(a.files.config), "disable", ALPHA]) == 0
        await eventually(lambda: b.files.projects()[ALPHA]["enabled"] is False, SYNCED)
        await eventually(lambda: b.services.state.snapshot().sharing.pending >= 1)  # type: ignore[union-attr]
        assert "proj-delta-0004" not in b.files.projects()  # its token cannot travel
        redis = a.services.state.client.redis  # type: ignore[attr-defined]
        for key in [k async for k in redis.scan_iter(match=key_prefix + "acct:*")]:
            values = await redis.hgetall(key)
            assert b"x:refresh_token" not in values
            assert not any(b"rt-" in v for v in values.values())
        health = await b.health()
        assert health["accounts"]["sharing"]["tokens_shared"] is False


ADMIN = "admin-secret-123456"


async def console(host: Host, method: str, path: str, body: Any = None) -> dict[str, Any]:
    """A call to the host's console API with the admin key."""
    request = HTTPRequest(
        host.url + "/admin/api/keys" + path,
        method=method,
        headers={"Authorization": f"Bearer {ADMIN}", "Content-Type": "application/json"},
        body=json.dumps(body) if body is not None else None,
        allow_nonstandard_methods=True,
    )
    answer: dict[str, Any] = json.loads((await AsyncHTTPClient().fetch(request)).body)
    return answer


async def answers(host: Host, key: str) -> int:
    """The status of a chat request to ``host`` with ``key``."""
    client = openai.AsyncOpenAI(base_url=host.url + "/v1", api_key=key, max_retries=0)
    try:
        await chat_text(client)
    except openai.APIStatusError as exc:
        return exc.status_code
    finally:
        await client.close()
    return 200


@pytest.fixture
def with_console(
    tmp_path: Path,
    config_doc: dict[str, Any],
    tokens_path: Path,
    redis_server: RedisServer,
    key_prefix: str,
) -> tuple[HostFiles, HostFiles]:
    config = {**config_doc, "admin_key": ADMIN}
    out = []
    for name in ("host-a", "host-b"):
        files = host_folder(tmp_path, name, config, tokens_path, redis_server.url, key_prefix)
        text = files.config.read_text()
        files.config.write_text(f"# {name}'s own config: this comment stays\n" + text)
        out.append(files)
    return out[0], out[1]


async def test_a_key_made_in_the_console_on_a_works_on_b(
    fake: FakeUpstream, with_console: tuple[HostFiles, HostFiles]
) -> None:
    async with running(*with_console) as (a, b):
        made = await console(a, "POST", "", {"label": "ci", "policy": {"rpm": 100}})
        key = made["key"]
        await eventually(lambda: _is(answers(b, key), 200), SYNCED)
        text = b.files.config.read_text()
        assert text.startswith("# host-b's own config: this comment stays")
        assert key not in text and "label: ci" in text and "rpm: 100" in text
        assert ADMIN not in json.dumps(await _shared_values(b))
        # Disabled on A: refused on B; deleted on A: gone from B's file.
        await console(a, "PATCH", "/ci", {"enabled": False})
        await eventually(lambda: _is(answers(b, key), 401), SYNCED)
        await console(a, "DELETE", "/ci")
        await eventually(lambda: "label: ci" not in b.files.config.read_text(), SYNCED)
        assert "label: ci" not in a.files.config.read_text()


async def _is(status: Any, expected: int) -> bool:
    return bool(await status == expected)


async def _shared_values(host: Host) -> list[Any]:
    redis = host.services.state.client.redis  # type: ignore[attr-defined]
    prefix = host.services.state.client.prefix  # type: ignore[attr-defined]
    return [
        v.decode()
        async for k in redis.scan_iter(match=prefix + "skey:*")
        for v in await redis.hvals(k)
    ]


async def test_keys_written_by_hand_stay_on_their_host_until_published(
    fake: FakeUpstream, with_console: tuple[HostFiles, HostFiles]
) -> None:
    a_files, b_files = with_console
    laptop = "sk-laptop-0123456789abcdef"
    text = b_files.config.read_text().replace(
        "api_keys:\n", f"api_keys:\n- key: {laptop}  # written by hand\n  label: laptop\n", 1
    )
    b_files.config.write_text(text)
    async with running(a_files, b_files) as (a, b):
        assert await answers(b, laptop) == 200
        made = await console(a, "POST", "", {"label": "shared-one"})
        await eventually(lambda: _is(answers(b, made["key"]), 200), SYNCED)
        assert await answers(a, laptop) == 401  # B's own key: not shared
        # A makes a key of the same label: B keeps the one written there by hand, and says so.
        other = (await console(a, "POST", "", {"label": "laptop"}))["key"]
        await eventually(lambda: _keys_held(b, 1), SYNCED)
        assert await answers(b, other) == 401 and await answers(b, laptop) == 200
        publish = ["keys", "publish", "--config", str(b.files.config), "laptop"]
        assert await asyncio.to_thread(main, publish) == 0  # its own event loop
        await eventually(lambda: _is(answers(a, laptop), 200), SYNCED)
        assert laptop not in a.files.config.read_text()  # A holds its hash only
        assert laptop not in json.dumps(await _shared_values(a))
        assert "# written by hand" in b.files.config.read_text()
        assert await answers(a, other) == 401  # B's version is the shared one now
        await eventually(lambda: _keys_held(b, 0), SYNCED)


async def _keys_held(host: Host, count: int) -> bool:
    return bool((await host.health())["accounts"]["sharing"]["keys_held"] == count)


async def test_keys_reach_a_host_that_starts_late_and_survive_a_flush(
    fake: FakeUpstream, with_console: tuple[HostFiles, HostFiles], key_prefix: str
) -> None:
    a_files, b_files = with_console
    async with running(b_files):
        pass  # B has synced once
    async with running(a_files) as (a,):
        night = (await console(a, "POST", "", {"label": "night-job"}))["key"]
        async with running(b_files) as (b,):
            assert await answers(b, night) == 200  # caught up before serving: no wait
            redis = a.services.state.client.redis  # type: ignore[attr-defined]
            await redis.delete(*[k async for k in redis.scan_iter(match=key_prefix + "*")])
            later = (await console(b, "POST", "", {"label": "after-flush"}))["key"]
            await eventually(lambda: _is(answers(a, later), 200), SYNCED)
            # The flushed copy is whole again: each host republished what it shares.
            await eventually(lambda: _has_labels(a, {"night-job", "after-flush"}), SYNCED)
            assert await answers(b, night) == 200 and await answers(a, night) == 200


async def _has_labels(host: Host, wanted: set[str]) -> bool:
    redis = host.services.state.client.redis  # type: ignore[attr-defined]
    prefix = host.services.state.client.prefix  # type: ignore[attr-defined]
    names = {
        (await redis.hget(k, "name")).decode()
        async for k in redis.scan_iter(match=prefix + "skey:*")
    }
    return wanted <= names


async def test_tombstones_are_kept_for_the_retention_then_purged(
    fake: FakeUpstream, two: tuple[HostFiles, HostFiles], key_prefix: str
) -> None:
    async with running(*two) as (a, b):
        edit_tokens(b.files, lambda ps: ps.remove(next(p for p in ps if p["project_id"] == GAMMA)))
        await eventually(lambda: GAMMA not in a.files.projects(), SYNCED)
        redis = a.services.state.client.redis  # type: ignore[attr-defined]
        records = a.services.state.accounts_sync.records  # type: ignore[attr-defined]
        gone = key_prefix + "acct:" + _acct(GAMMA)
        assert await records.purge(keep_ms=3_600_000) == 0  # within the retention: kept
        assert await redis.exists(gone)
        assert await records.purge(keep_ms=0) == 1  # past it: the tombstone goes
        assert not await redis.exists(gone)
        assert await redis.exists(key_prefix + "acct:" + _acct(ALPHA))  # a live one stays
        assert not await redis.zscore(key_prefix + "accts", _acct(GAMMA))
