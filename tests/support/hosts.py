"""Gateways as on separate hosts: each in a folder of its own (its own gateway.yaml, tokens.json
and ledger), all on one Redis key prefix — the pool several machines serve. Each runs in this
process with its file watcher, like ``ag2api`` on its machine."""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from tornado.httpserver import HTTPServer
from tornado.netutil import bind_sockets

from ag2api.app import make_app
from ag2api.config.live import read_config
from ag2api.server.reload import Reloader
from ag2api.server.watch import FileWatcher
from ag2api.services import build_services
from tests.support.gateways import Gateway
from tests.support.replicas import state_config

KEY = "correct horse battery staple 42"


@dataclass(frozen=True)
class HostFiles:
    name: str
    config: Path
    tokens: Path

    def projects(self) -> dict[str, dict[str, Any]]:
        """tokens.json's projects by id, as the file holds them."""
        doc = json.loads(self.tokens.read_text())
        return {p["project_id"]: p for p in doc["projects"]}


def host_folder(
    root: Path,
    name: str,
    config: dict[str, Any],
    tokens: Path | None,
    redis_url: str,
    prefix: str,
    key: str | None = KEY,
) -> HostFiles:
    """``root/name`` with its gateway.yaml (``config`` plus the shared state), its own copy of
    ``tokens`` (None: no tokens.json yet) and, with ``key``, its key file."""
    folder = root / name
    (folder / "data").mkdir(parents=True)
    doc = {**config, **state_config(redis_url, prefix, host_name=name)}
    if key is not None:
        (folder / "secret.key").write_text(key + "\n")
        doc["secrets"] = {"key_file": "secret.key"}
    (folder / "gateway.yaml").write_text(yaml.safe_dump(doc))
    target = folder / "data" / "tokens.json"
    if tokens is not None:
        shutil.copy(tokens, target)
    return HostFiles(name, folder / "gateway.yaml", target)


class Host(Gateway):
    def __init__(
        self, files: HostFiles, services: Any, port: int, server: HTTPServer, watcher: FileWatcher
    ) -> None:
        super().__init__(services, port, server)
        self.files = files
        self.watcher = watcher

    async def close(self) -> None:
        await self.watcher.stop()
        await super().close()


async def start_host(files: HostFiles) -> Host:
    """The gateway of ``files`` serving on a port of its own, caught up with the shared list."""
    services = build_services(read_config(files.config, environ={}))
    reloader = Reloader(services)
    watcher = FileWatcher(services.config, reloader)
    watcher.start()
    await asyncio.wait_for(watcher.ready.wait(), 10)
    await services.state.start()
    sockets = bind_sockets(0, "127.0.0.1")
    server = HTTPServer(make_app(services))
    server.add_sockets(sockets)
    return Host(files, services, sockets[0].getsockname()[1], server, watcher)


@asynccontextmanager
async def running(*files: HostFiles) -> AsyncIterator[list[Host]]:
    """The hosts of ``files``, started side by side (as machines boot), stopped at the end."""
    started = await asyncio.gather(*(start_host(f) for f in files), return_exceptions=True)
    out = [h for h in started if isinstance(h, Host)]
    try:
        failed = next((e for e in started if isinstance(e, BaseException)), None)
        if failed is not None:
            raise failed
        yield out
    finally:
        for host in out:
            await host.close()
