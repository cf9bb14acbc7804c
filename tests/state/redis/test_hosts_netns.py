"""Two hosts in network namespaces of their own (a veth pair each to this namespace, where Redis
and the fake upstream listen): host B is cut off from the network while both are edited, joins
again, and the two converge — B catches up, and what was edited on B while it was cut off
reaches A."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import openai
import pytest
import redis.asyncio as aioredis
from tornado.httpclient import AsyncHTTPClient

from ag2api.cli import main
from ag2api.testing.fake_upstream import FakeUpstream
from tests.support.clients import API_KEY
from tests.support.files import write_tokens
from tests.support.helpers import chat_text
from tests.support.hosts import HostFiles, host_folder
from tests.support.netns import Netns, missing
from tests.support.redis_server import MISSING as NO_REDIS
from tests.support.redis_server import RedisServer, available
from tests.support.replicas import eventually
from tests.support.upstream import projects

ALPHA, BETA, GAMMA = "proj-alpha-0001", "proj-beta-0002", "proj-gamma-0003"

RUN_HOST = """
import asyncio, sys
from pathlib import Path
from ag2api.app import serve
from ag2api.config.live import read_config

async def main():
    cfg = read_config(Path(sys.argv[1]), environ={})
    def ready(services, port):
        Path(sys.argv[2]).write_text(str(port))
    await serve(cfg, on_ready=ready)

asyncio.run(main())
"""


@pytest.fixture
def namespaces() -> Iterator[tuple[Netns, Netns]]:
    reason = missing()
    if reason is not None:
        pytest.skip(reason)
    if not available():
        pytest.skip(NO_REDIS)
    made = (Netns(1), Netns(2))
    try:
        for ns in made:
            ns.create()
        yield made
    finally:
        for ns in made:
            ns.delete()


@asynccontextmanager
async def host_in(ns: Netns, files: HostFiles) -> AsyncIterator[str]:
    """``ag2api`` on ``files`` inside ``ns``; yields its URL once it serves (caught up)."""
    port_file = files.config.parent / "port"
    proc = await asyncio.create_subprocess_exec(
        *ns.command(sys.executable, "-c", RUN_HOST, str(files.config), str(port_file)),
        env=dict(os.environ),
    )
    try:
        await eventually(port_file.exists, within=30)
        yield f"http://{ns.ip}:{port_file.read_text().strip()}"
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), 15)
            except TimeoutError:
                proc.kill()
                await proc.wait()


async def b_is_behind(redis: RedisServer, prefix: str) -> bool:
    """Host B has not synced for a second and a half while A goes on (B is cut off)."""
    client = aioredis.Redis.from_url(redis.url)
    try:
        seen = {
            k.decode(): int(v.split(b"|")[0])
            for k, v in (await client.hgetall(prefix + "accts:hosts")).items()
        }
    finally:
        await client.aclose()
    return seen.get("host-a", 0) - seen.get("host-b", 0) > 1500


def edit(files: HostFiles, change: Any) -> None:
    doc = json.loads(files.tokens.read_text())
    change(doc["projects"])
    files.tokens.write_text(json.dumps(doc, indent=2))


@pytest.mark.timeout(seconds=120)
async def test_a_host_cut_off_from_the_network_catches_up_and_shares_its_edits(
    tmp_path: Path, namespaces: tuple[Netns, Netns], key_prefix: str
) -> None:
    ns_a, ns_b = namespaces
    shared_ip = ns_a.root_ip  # an address of this namespace both reach through their routes
    redis = RedisServer(tmp_path / "redis", also=(shared_ip,))
    redis.start()
    fake = FakeUpstream()
    await fake.start(address=shared_ip)
    try:
        for token, project in (("rt-one", ALPHA), ("rt-two", BETA), ("rt-three", GAMMA)):
            fake.add_account(token, project)
        tokens = tmp_path / "seed-tokens.json"
        entry = {"access_token": None, "expires_at": 0, "enabled": True, "disabled_reason": None}
        write_tokens(
            tokens,
            fake.token_url,
            [
                {"project_id": p, "refresh_token": t, **entry}
                for t, p in (("rt-one", ALPHA), ("rt-two", BETA), ("rt-three", GAMMA))
            ],
        )
        files = []
        for ns, name in ((ns_a, "host-a"), (ns_b, "host-b")):
            config = {
                "api_keys": [{"key": API_KEY, "label": "tests"}],
                "tokens_file": "data/tokens.json",
                "server": {"host": ns.ip, "port": 0},
                "upstream": {"base_urls": [fake.urls[0]]},
                "rotation": {"count": 1},
            }
            url = redis.url_at(shared_ip)
            files.append(host_folder(tmp_path, name, config, tokens, url, key_prefix))
        a_files, b_files = files
        async with host_in(ns_a, a_files), host_in(ns_b, b_files) as b_url:
            assert main(["accounts", "--config", str(a_files.config), "disable", BETA]) == 0
            await eventually(lambda: b_files.projects()[BETA]["enabled"] is False, 5)
            ns_b.cut()
            await eventually(lambda: b_is_behind(redis, key_prefix), 10)
            # Cut off: A takes an account in and one out; B is edited by hand.
            fake.add_account("rt-delta", "proj-delta-0004")
            source = tmp_path / "import.json"
            new = {"project_id": "proj-delta-0004", "refresh_token": "rt-delta"}
            source.write_text(json.dumps({"projects": [new]}))
            assert main(["accounts", "--config", str(a_files.config), "import", str(source)]) == 0
            edit(a_files, lambda ps: ps.remove(next(p for p in ps if p["project_id"] == GAMMA)))
            edit(b_files, lambda ps: ps[0].update(user_agent="agent/cut-off"))
            await eventually(lambda: "proj-delta-0004" in a_files.projects())
            ns_b.join()
            await eventually(lambda: "proj-delta-0004" in b_files.projects(), 20)
            await eventually(lambda: GAMMA not in b_files.projects(), 5)
            await eventually(
                lambda: a_files.projects()[ALPHA].get("user_agent") == "agent/cut-off", 5
            )
            assert b_files.projects()[ALPHA]["user_agent"] == "agent/cut-off"
            client = openai.AsyncOpenAI(base_url=b_url + "/v1", api_key=API_KEY, max_retries=0)
            try:
                for _ in range(4):
                    assert (await chat_text(client)).endswith("You said: hi")
            finally:
                await client.close()
            assert "proj-delta-0004" in projects(fake)
            health = json.loads((await AsyncHTTPClient().fetch(b_url + "/health")).body)
            seen = {h["host"] for h in health["accounts"]["sharing"]["hosts"]}
            assert seen == {"host-a", "host-b"}
            assert health["state"]["ok"] and health["state"]["last_error"]  # it was cut off
    finally:
        await fake.stop()
        redis.stop()
