"""``server.workers``: several processes on one port, one gateway (a real Redis, real processes)."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
from pathlib import Path
from typing import Any

import pytest

from ag2api.testing.fake_upstream import FakeUpstream
from tests.support.clients import openai_sdk
from tests.support.files import update_config
from tests.support.helpers import chat_text
from tests.support.http import fetch, free_port
from tests.support.redis_server import RedisServer
from tests.support.replicas import eventually, state_config
from tests.support.upstream import projects

ROOT = Path(__file__).parents[2]


def children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


async def start(config_path: Path, *args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "ag2api",
        "--config",
        str(config_path),
        *args,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )


@pytest.mark.timeout(seconds=60)
async def test_two_workers_serve_one_port_as_one_gateway(
    fake: FakeUpstream, config_path: Path, redis_server: RedisServer, key_prefix: str
) -> None:
    port = free_port()
    update_config(
        config_path,
        {
            **state_config(redis_server.url, key_prefix),
            "rotation": {"count": 2},
            "server": {"port": port},
        },
    )
    proc = await start(config_path, "--workers", "2")
    url = f"http://127.0.0.1:{port}"
    client = openai_sdk(url)
    try:

        async def up() -> bool:
            try:
                return (await fetch(url + "/health")).code == 200
            except OSError:
                return False

        await eventually(up, within=20)
        workers = children(proc.pid)
        assert len(workers) == 2
        for i in range(8):  # a connection each: the kernel hands it to either worker
            once = openai_sdk(url)
            assert (await chat_text(once, stream=bool(i % 2))).endswith("hi")
            await once.close()
        # One rotation whichever worker served: two uses per account, pool-wide.
        assert projects(fake)[:6] == [p for p in projects(fake)[:6:2] for _ in range(2)]
        metrics = (await fetch(url + "/metrics")).body.decode()
        served = sum(
            float(m)
            for m in re.findall(
                r'^ag2api_requests_total\{[^}]*route="chat"[^}]*status="200"[^}]*\} (\S+)$',
                metrics,
                re.M,
            )
        )
        assert served == 8  # both workers' counters, added up
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 30) == 0
        for pid in workers:  # stopped as one
            assert not Path(f"/proc/{pid}").exists() or "zombie" in _status(pid)
    finally:
        await client.close()
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


def _status(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/status").read_text().lower()
    except OSError:
        return "zombie"


async def test_workers_need_the_redis_backend(config_path: Path, fake: Any) -> None:
    proc = await start(config_path, "--workers", "2")
    _, err = await proc.communicate()
    assert proc.returncode == 2
    assert b"more than 1 worker needs state.backend: redis" in err


@pytest.mark.timeout(seconds=60)
async def test_workers_end_when_the_supervisor_is_killed(
    fake: FakeUpstream, config_path: Path, redis_server: RedisServer, key_prefix: str
) -> None:
    port = free_port()
    update_config(
        config_path, {**state_config(redis_server.url, key_prefix), "server": {"port": port}}
    )
    proc = await start(config_path, "--workers", "2")
    try:
        await eventually(lambda: len(children(proc.pid)) == 2, within=20)
        workers = children(proc.pid)
        proc.send_signal(signal.SIGKILL)
        await proc.wait()
        # No orphans: each worker got SIGTERM (PR_SET_PDEATHSIG) and stopped gracefully.
        await eventually(
            lambda: all(
                not Path(f"/proc/{pid}").exists() or "zombie" in _status(pid) for pid in workers
            ),
            within=20,
        )
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
