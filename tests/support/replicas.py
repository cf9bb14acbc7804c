"""Whole gateways (their own Services, app and HTTP server on a port of their own) in this
process, sharing one Redis: what the replica tests drive."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import openai
from tornado.httpclient import AsyncHTTPClient
from tornado.httpserver import HTTPServer
from tornado.netutil import bind_sockets

from ag2api.app import make_app
from ag2api.config.live import read_config
from ag2api.config.schema import GatewayConfig
from ag2api.server.reload import Reloader
from ag2api.server.watch import FileWatcher
from ag2api.services import Services, build_services
from ag2api.testing.fake_upstream import FakeUpstream
from tests.conftest import API_KEY

MODEL = "gemini-2.5-flash"


class Replica:
    def __init__(self, services: Services, port: int, server: HTTPServer) -> None:
        self.services = services
        self.server = server
        self.url = f"http://127.0.0.1:{port}"
        self.client = openai.AsyncOpenAI(base_url=self.url + "/v1", api_key=API_KEY, max_retries=0)

    async def health(self) -> dict[str, Any]:
        response = await AsyncHTTPClient().fetch(self.url + "/health")
        body: dict[str, Any] = json.loads(response.body)
        return body

    async def close(self) -> None:
        self.server.stop()
        await self.server.close_all_connections()
        await self.client.close()
        await self.services.aclose()


def state_config(url: str, prefix: str, **extra: Any) -> dict[str, Any]:
    return {
        "state": {
            "backend": "redis",
            "redis_url": url,
            "key_prefix": prefix,
            "sync_seconds": 0.1,
            "timeout": 1.0,  # generous: a loaded CI machine must not fall back by accident
            **extra,
        }
    }


@asynccontextmanager
async def replicas(
    config_path: Path,
    n: int = 2,
    host: Callable[[GatewayConfig, int], GatewayConfig] | None = None,
) -> AsyncIterator[list[Replica]]:
    """``n`` gateways on the config; ``host`` adapts it per replica (another host's files)."""
    cfg = read_config(config_path, environ={})
    out: list[Replica] = []
    try:
        for i in range(n):
            services = build_services(host(cfg, i) if host else cfg)
            Reloader(services)  # merges of the shared account list reach the pool at once
            sockets = bind_sockets(0, "127.0.0.1")
            server = HTTPServer(make_app(services))
            server.add_sockets(sockets)
            out.append(Replica(services, sockets[0].getsockname()[1], server))
        yield out
    finally:
        for replica in out:
            await replica.close()


@asynccontextmanager
async def watching(group: list[Replica]) -> AsyncIterator[None]:
    """Each replica's file watcher running (as ``ag2api`` runs one): edits of the files they
    share reach every pool."""
    watchers = [FileWatcher(r.services.config, Reloader(r.services)) for r in group]
    try:
        for w in watchers:
            w.start()
            await asyncio.wait_for(w.ready.wait(), 10)
        yield
    finally:
        for w in watchers:
            await w.stop()


def projects(fake: FakeUpstream) -> list[str]:
    return [r.body["project"] for r in fake.generate_requests()]


async def eventually(check: Callable[[], Any], within: float = 5.0) -> None:
    """Poll ``check`` (no event exists for another process's state) until true or the deadline."""
    deadline = time.monotonic() + within
    while not await _true(check()):
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


async def leader_of(group: list[Replica]) -> tuple[Replica, Replica]:
    """(the elected tokens.json writer, the other) of two replicas."""
    await eventually(lambda: sum(r.services.state.is_writer() for r in group) == 1)  # type: ignore[attr-defined]
    a, b = group
    return (a, b) if a.services.state.is_writer() else (b, a)  # type: ignore[attr-defined]


async def not_(value: Awaitable[Any]) -> bool:
    return not await value


async def _true(value: Any) -> bool:
    return bool(await value) if asyncio.iscoroutine(value) else bool(value)
