"""Whole gateways started by a test, besides the ``app`` fixture's: in this process on a port of
their own (:func:`gateways` — a restart, or replicas sharing one Redis), or the real serve loop
with its connection limits and signals (:func:`serve`)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import openai
from tornado.httpserver import HTTPServer
from tornado.netutil import bind_sockets

from ag2api.app import make_app
from ag2api.app import serve as serve_forever
from ag2api.config.live import read_config
from ag2api.config.schema import GatewayConfig
from ag2api.services import Services, build_services
from tests.support.clients import API_KEY, anthropic_sdk, openai_sdk
from tests.support.http import health

if TYPE_CHECKING:
    import anthropic


class Gateway:
    """One gateway's Services, its app on ``url``, and the SDKs pointed at it."""

    def __init__(self, services: Services, port: int, server: HTTPServer | None = None) -> None:
        self.services = services
        self.server = server
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self._client: openai.AsyncOpenAI | None = None
        self._claude: anthropic.AsyncAnthropic | None = None

    @property
    def client(self) -> openai.AsyncOpenAI:
        """OpenAI's SDK on this gateway (made when first used, closed with it)."""
        if self._client is None:
            self._client = openai_sdk(self.url, _strict_response_validation=True)
        return self._client

    @property
    def claude(self) -> anthropic.AsyncAnthropic:
        """Anthropic's SDK on this gateway (made when first used, closed with it)."""
        if self._claude is None:
            self._claude = anthropic_sdk(self.url)
        return self._claude

    async def close_clients(self) -> None:
        for sdk in (self._client, self._claude):
            if sdk is not None:
                await sdk.close()

    def sdk(self, key: str = API_KEY) -> openai.AsyncOpenAI:
        """Another OpenAI client (another key); the caller closes it."""
        return openai_sdk(self.url, key)

    async def health(self) -> dict[str, Any]:
        return await health(self.url)

    async def close(self) -> None:
        if self.server is not None:
            self.server.stop()
            await self.server.close_all_connections()
        await self.close_clients()
        await self.services.aclose()


@asynccontextmanager
async def gateways(
    config_path: Path,
    n: int = 1,
    host: Callable[[GatewayConfig, int], GatewayConfig] | None = None,
) -> AsyncIterator[list[Gateway]]:
    """``n`` gateways on the config, each with its own Services (``host`` adapts the config per
    gateway: another host's files); all closed at the end of the block."""
    cfg = read_config(config_path, environ={})
    out: list[Gateway] = []
    try:
        for i in range(n):
            services = build_services(host(cfg, i) if host else cfg)
            sockets = bind_sockets(0, "127.0.0.1")
            server = HTTPServer(make_app(services))
            server.add_sockets(sockets)
            out.append(Gateway(services, sockets[0].getsockname()[1], server))
        yield out
    finally:
        for gateway in out:
            await gateway.close()


@asynccontextmanager
async def gateway(config_path: Path) -> AsyncIterator[Gateway]:
    """One gateway process's state for the block (a restart: nothing survives it)."""
    async with gateways(config_path) as (one,):
        yield one


class Served(Gateway):
    """``app.serve`` running in this loop; :meth:`close` stops it as a signal would."""

    def __init__(
        self, task: asyncio.Task[int], stop: asyncio.Event, services: Services, port: int
    ) -> None:
        super().__init__(services, port)
        self.task, self.stop = task, stop

    async def close(self) -> int:  # type: ignore[override]
        """Stop serving; the exit code."""
        self.stop.set()
        code = await self.task
        await self.close_clients()
        return code


async def serve(config_path: Path, **server: Any) -> Served:
    """The real server (its connection limits, drain and exit) on a free loopback port, with
    ``server`` settings changed."""
    cfg = read_config(config_path, environ={})
    cfg = replace(cfg, server=replace(cfg.server, port=0, **server))
    stop = asyncio.Event()
    ready: asyncio.Future[tuple[Services, int]] = asyncio.get_running_loop().create_future()
    task = asyncio.ensure_future(
        serve_forever(cfg, stop=stop, on_ready=lambda s, port: ready.set_result((s, port)))
    )
    services, port = await asyncio.wait_for(ready, 10)
    return Served(task, stop, services, port)
