"""Hardening: a reload never opens the gateway, client connections are bounded (header,
body and idle timeouts, a connection cap, auth before any body), SIGHUP reloads, and requests still
waiting for an account slot get a real 503 (at shutdown and when the slot wait runs out)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
from collections.abc import AsyncIterator
from ipaddress import ip_network
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
import yaml

from ag2api.server.watch import FileWatcher
from ag2api.services import Services
from ag2api.testing.fake_upstream import FakeUpstream, Step
from tests.support.clients import API_KEY
from tests.support.files import deep_merge
from tests.support.gateways import serve
from tests.support.helpers import chat_text
from tests.support.http import fetch

MODEL = "gemini-2.5-flash"
CHAT = json.dumps({"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}).encode()
PUBLIC = {"server": {"host": "0.0.0.0"}}


class Sockets:
    """Raw client connections, all closed at the end of the ``async with``."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.writers: list[asyncio.StreamWriter] = []

    async def __aenter__(self) -> Sockets:
        return self

    async def __aexit__(self, *exc: object) -> None:
        for writer in self.writers:
            writer.close()
        for writer in self.writers:
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    async def open(self, data: bytes = b"") -> asyncio.StreamReader:
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        self.writers.append(writer)
        if data:
            writer.write(data)
            await writer.drain()
        return reader


async def until_closed(reader: asyncio.StreamReader, timeout: float = 5.0) -> bytes:
    """Everything the server sends until it closes the connection (fails after ``timeout``)."""
    try:
        return await asyncio.wait_for(reader.read(), timeout)
    except ConnectionResetError:
        return b""


def head(method: str, path: str, length: int | None = None, key: str | None = None) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1"]
    if key:
        lines.append(f"Authorization: Bearer {key}")
    if length is not None:
        lines += ["Content-Type: application/json", f"Content-Length: {length}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


# --- 1. a reload never opens a public gateway --------------------------------------------------


@pytest.mark.parametrize("config_overrides", [PUBLIC])
async def test_reload_that_drops_every_key_on_a_public_host_is_refused(
    client: openai.AsyncOpenAI,
    watcher: FileWatcher,
    services: Services,
    config_path: Path,
    config_doc: dict[str, Any],
    base_url: str,
    caplog: pytest.LogCaptureFixture,
    config_overrides: dict[str, Any],
) -> None:
    version = services.config.version
    config_path.write_text(yaml.safe_dump({**config_doc, "api_keys": []}))
    await watcher.wait_for(lambda: services.config.last_error is not None)
    assert services.config.version == version  # the last good config stays in force
    async with httpx.AsyncClient() as http:
        health = (await http.get(base_url + "/health")).json()
        anonymous = await http.post(base_url + "/v1/chat/completions", content=CHAT)
    refused = "api_keys: empty, while the gateway listens on an address other than loopback"
    assert refused in health["config"]["last_error"]
    assert health["status"] == "degraded"
    assert anonymous.status_code == 401
    assert await chat_text(client)
    assert any(refused in r.getMessage() for r in caplog.records)
    # A fixed file is applied as usual.
    doc = deep_merge(config_doc, {"api_keys": [API_KEY, "sk-second-key-1234"]})
    config_path.write_text(yaml.safe_dump(doc))
    await watcher.wait_for(lambda: services.config.version > version)
    assert services.config.last_error is None


@pytest.mark.parametrize("config_overrides", [PUBLIC])
async def test_a_two_step_edit_cannot_open_the_address_still_bound(
    watcher: FileWatcher,
    services: Services,
    config_path: Path,
    config_doc: dict[str, Any],
    base_url: str,
    config_overrides: dict[str, Any],
) -> None:
    # Step 1: listen on loopback — accepted, but it only applies after a restart.
    version = services.config.version
    loopback = deep_merge(config_doc, {"server": {"host": "127.0.0.1"}})
    config_path.write_text(yaml.safe_dump(loopback))
    await watcher.wait_for(lambda: services.config.version > version)
    # Step 2: drop every key — refused, since 0.0.0.0 is what is still served.
    config_path.write_text(yaml.safe_dump({**loopback, "api_keys": []}))
    await watcher.wait_for(lambda: services.config.last_error is not None)
    async with httpx.AsyncClient() as http:
        health = (await http.get(base_url + "/health")).json()
        anonymous = await http.post(base_url + "/v1/chat/completions", content=CHAT)
    keys_line = yaml.safe_dump({**loopback, "api_keys": []}).splitlines().index("api_keys: []")
    assert health["config"]["last_error"].startswith(
        f"gateway.yaml:{keys_line + 1}: api_keys: empty, while the gateway listens on an address "
        "other than loopback"
    )
    assert "0.0.0.0" not in health["config"]["last_error"]
    assert health["restart_required"] == ["server.host"]
    assert anonymous.status_code == 401
    assert services.config.listening == ("0.0.0.0",)  # as started (no socket here)


async def test_a_refused_host_is_named_by_its_setting_and_line_never_its_value(
    watcher: FileWatcher,
    services: Services,
    config_path: Path,
    config_doc: dict[str, Any],
    base_url: str,
) -> None:
    doc = deep_merge(config_doc, {"api_keys": [], "server": {"host": "alice:s3cretpw@h"}})
    text = yaml.safe_dump(doc)
    config_path.write_text(text)
    await watcher.wait_for(lambda: services.config.last_error is not None)
    line = text.splitlines().index("  host: alice:s3cretpw@h") + 1
    async with httpx.AsyncClient() as http:
        raw = (await http.get(base_url + "/health")).text
    assert "s3cretpw" not in raw and "alice" not in raw
    error = json.loads(raw)["config"]["last_error"]
    assert error.startswith(f"gateway.yaml:{line}: server.host: is an address other than loopback")
    assert "s3cretpw" not in (services.config.last_error or "")  # nor in the operator's log


# --- 2. client connections are bounded -------------------------------------------------------


async def test_stalled_headers_and_bodies_and_idle_connections_are_closed(
    config_path: Path,
) -> None:
    gw = await serve(config_path, header_timeout=0.3, body_timeout=0.3, idle_timeout=0.3)
    try:
        async with Sockets(gw.port) as socks:
            # Headers that never end (the slowloris shape), and no request at all.
            partial = await socks.open(b"POST /health HTTP/1.1\r\nContent-Length: 10\r\n")
            silent = await socks.open()
            # Complete headers, a body that never comes: the auth'd chat route, POST /health.
            chat = await socks.open(head("POST", "/v1/chat/completions", 10, API_KEY))
            health = await socks.open(head("POST", "/health", 10))
            assert await until_closed(partial) == b""
            assert await until_closed(silent) == b""
            assert await until_closed(chat) == b""
            assert (await until_closed(health)).startswith(b"HTTP/1.1 405")
            # A kept-alive connection is closed once idle.
            idle = await socks.open(head("GET", "/health"))
            status = await asyncio.wait_for(idle.readuntil(b"\r\n\r\n"), 5)
            assert status.startswith(b"HTTP/1.1 200")
            length = int(status.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
            await idle.readexactly(length)
            assert await until_closed(idle) == b""
    finally:
        assert await gw.close() == 0


async def test_connections_beyond_the_cap_are_refused(config_path: Path) -> None:
    gw = await serve(config_path, header_timeout=1.0, max_connections=2)
    assert gw.services.config.listening == ("127.0.0.1",)  # the socket's, for the reload check
    try:
        async with Sockets(gw.port) as socks:
            stallers = [await socks.open(b"GET /health HTTP/1.1\r\n") for _ in range(2)]
            third = await socks.open(head("GET", "/v1/models", key=API_KEY))
            assert await until_closed(third, timeout=0.9) == b""  # closed at once, unserved
            for reader in stallers:
                assert await until_closed(reader) == b""  # the header timeout ends them
        client = gw.sdk()
        assert await chat_text(client)
        await client.close()
    finally:
        await gw.close()


async def test_one_address_over_its_cap_loses_its_slowest_connection_first(
    config_path: Path,
) -> None:
    gw = await serve(config_path, header_timeout=30, max_connections_per_client=3)
    try:
        async with Sockets(gw.port) as socks:
            # Three sockets that never finish their headers, oldest first (slowloris).
            stallers = [await socks.open(b"GET /health HTTP/1.1\r\n") for _ in range(3)]
            # A fourth connection from the same address: the oldest staller makes room.
            assert (await fetch(f"http://127.0.0.1:{gw.port}/health")).code == 200
            assert await until_closed(stallers[0]) == b""
            # The two others are still open and served once their headers end.
            for reader, writer in zip(stallers[1:], socks.writers[1:], strict=True):
                writer.write(b"Host: x\r\nConnection: close\r\n\r\n")
                assert (await until_closed(reader)).startswith(b"HTTP/1.1 200")
    finally:
        assert await gw.close() == 0


async def test_one_address_whose_connections_are_all_busy_gets_no_more(
    config_path: Path,
) -> None:
    gw = await serve(config_path, body_timeout=30, max_connections_per_client=2)
    try:
        async with Sockets(gw.port) as socks:
            # Requests in progress (headers in, body still coming): none of them is closed.
            chat = head("POST", "/v1/chat/completions", len(CHAT), API_KEY)
            chat = chat.replace(b"\r\n\r\n", b"\r\nExpect: 100-continue\r\n\r\n")
            busy = [await socks.open(chat) for _ in range(2)]
            for reader in busy:  # the gateway has read their headers
                assert (await reader.readuntil(b"\r\n\r\n")).startswith(b"HTTP/1.1 100")
            extra = await socks.open(head("GET", "/health"))
            assert await until_closed(extra) == b""  # closed at once, unserved
            for reader, writer in zip(busy, socks.writers[:2], strict=True):
                writer.write(CHAT)
                answer = await reader.readuntil(b"\r\n")
                assert answer.startswith(b"HTTP/1.1 200")
    finally:
        assert await gw.close() == 0


async def test_a_trusted_proxy_is_not_capped(config_path: Path) -> None:
    gw = await serve(
        config_path,
        header_timeout=30,
        max_connections_per_client=1,
        trusted_proxies=(ip_network("127.0.0.1/32"),),
    )
    try:
        async with Sockets(gw.port) as socks:
            staller = await socks.open(b"GET /health HTTP/1.1\r\n")
            assert (
                await fetch(f"http://127.0.0.1:{gw.port}/health")
            ).code == 200  # every client behind it shares its address
            socks.writers[0].write(b"Host: x\r\nConnection: close\r\n\r\n")
            assert (await until_closed(staller)).startswith(b"HTTP/1.1 200")
    finally:
        assert await gw.close() == 0


@pytest.mark.parametrize(
    ("method", "path", "key", "status", "length"),
    [
        ("POST", "/no/such/path", None, 404, 50_000_000),
        ("POST", "/no/such/path", None, 404, 5_000_000_000),
        ("POST", "/health", None, 405, 50_000_000),
        ("POST", "/v1/images/generations", None, 401, 50_000_000),
        ("POST", "/v1/chat/completions", None, 401, 5_000_000_000),
        ("POST", "/v1/images/generations", API_KEY, 413, 50_000_000),
        ("POST", "/v1/models", API_KEY, 405, 50_000_000),
        ("OPTIONS", "/v1/models", None, 413, 50_000_000),
    ],
)
async def test_answer_comes_from_the_headers_before_any_body_is_read(
    base_url: str, method: str, path: str, key: str | None, status: int, length: int
) -> None:
    async with Sockets(int(base_url.rsplit(":", 1)[1])) as socks:
        reader = await socks.open(head(method, path, length, key))
        # Not a byte of the declared body was sent: the answer must not wait for it.
        answer = await until_closed(reader)
    assert answer.startswith(f"HTTP/1.1 {status}".encode()), answer[:200]
    assert answer.count(b"HTTP/1.1") == 1, answer  # one answer, no bare 400 after it
    assert json.loads(answer.split(b"\r\n\r\n", 1)[1])["error"]["message"]


async def test_small_bodies_still_reach_the_handlers(base_url: str) -> None:
    """The streamed base handler still hands request.body to routes that read it whole."""
    async with httpx.AsyncClient() as http:
        bad = await http.post(
            base_url + "/v1/images/generations",
            headers={"Authorization": f"Bearer {API_KEY}"},
            content=b'{"model": "gemini-2.5-flash", "prompt": "a cat"}',
        )
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "model"


# --- 10. signals and slot waits --------------------------------------------------------------


@pytest.mark.parametrize("config_overrides", [{"watch": {"enabled": False}}])
async def test_sighup_reloads_both_files_and_keeps_streams_open(
    fake: FakeUpstream,
    config_path: Path,
    config_doc: dict[str, Any],
    tokens_path: Path,
    caplog: pytest.LogCaptureFixture,
    config_overrides: dict[str, Any],
) -> None:
    previous = signal.signal(signal.SIGHUP, lambda *_: None)  # old code must not kill pytest
    reloaded = asyncio.Event()

    class Seen(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.getMessage().startswith("tokens reloaded"):
                reloaded.set()

    seen = Seen()
    caplog.set_level(logging.INFO, "ag2api.reload")
    logging.getLogger("ag2api.reload").addHandler(seen)
    gw = await serve(config_path)
    client = gw.sdk()
    try:
        hold = asyncio.Event()
        fake.script(Step(hold=hold, hold_after=1))
        stream = await client.chat.completions.create(
            model=MODEL, stream=True, messages=[{"role": "user", "content": "hi"}]
        )
        it: AsyncIterator[Any] = stream.__aiter__()
        await anext(it)
        new_key = "sk-after-sighup-123456"
        config_path.write_text(yaml.safe_dump({**config_doc, "api_keys": [new_key]}))
        fake.add_account("rt-four", "proj-delta-0004")
        tokens = json.loads(tokens_path.read_text())
        tokens["projects"].append({"project_id": "proj-delta-0004", "refresh_token": "rt-four"})
        tokens_path.write_text(json.dumps(tokens))
        os.kill(os.getpid(), signal.SIGHUP)
        await asyncio.wait_for(reloaded.wait(), 5)
        assert gw.services.config.current.api_keys[0].key == new_key
        assert gw.services.pool.counts() == (4, 0)
        hold.set()
        rest = [c async for c in it]  # the open stream was not cut
        assert rest[-1].choices[0].finish_reason == "stop"
        with pytest.raises(openai.AuthenticationError):
            await chat_text(client)
        renewed = gw.sdk(new_key)
        assert await chat_text(renewed)
        await renewed.close()
    finally:
        logging.getLogger("ag2api.reload").removeHandler(seen)
        await client.close()
        assert await gw.close() == 0
        signal.signal(signal.SIGHUP, previous)


ONE_SLOT = {"limits": {"per_account": 1, "total": 1, "slot_wait": 30}, "rotation": {"count": 1}}


@pytest.mark.parametrize("config_overrides", [ONE_SLOT])
async def test_requests_waiting_for_a_slot_at_shutdown_get_503(
    fake: FakeUpstream, config_path: Path, config_overrides: dict[str, Any]
) -> None:
    gw = await serve(config_path, shutdown_grace=0.5)
    hold = asyncio.Event()
    fake.script(Step(hold=hold, hold_after=1))
    state = gw.services.state
    waits_for_room = asyncio.Event()
    wait_for_room = state.wait_for_room

    async def signalled_wait(timeout: float) -> bool:
        waits_for_room.set()
        return await wait_for_room(timeout)

    state.wait_for_room = signalled_wait  # type: ignore[method-assign]
    client = gw.sdk()
    holder = asyncio.ensure_future(chat_text(client, stream=True))
    await fake.wait_generate_requests(1)
    waiting = asyncio.ensure_future(chat_text(client))
    await waits_for_room.wait()  # the second request waits for the only slot
    gw.stop.set()
    with pytest.raises(openai.APIStatusError) as info:
        await asyncio.wait_for(waiting, 5)
    assert info.value.status_code == 503 and info.value.code == "server_busy"
    assert info.value.response.headers["Retry-After"] == "1"
    hold.set()
    await asyncio.gather(holder, return_exceptions=True)
    assert await gw.task == 0
    await client.close()


@pytest.mark.parametrize(
    "config_overrides",
    [deep_merge(ONE_SLOT, {"limits": {"slot_wait": 0.5}, "server": {"keepalive": 0.1}})],
)
async def test_keepalive_never_commits_a_request_still_waiting_for_a_slot(
    fake: FakeUpstream,
    base_url: str,
    client: openai.AsyncOpenAI,
    config_overrides: dict[str, Any],
) -> None:
    hold = asyncio.Event()
    fake.script(Step(hold=hold, hold_after=1))
    holder = asyncio.ensure_future(chat_text(client, stream=True))
    await fake.wait_generate_requests(1)
    async with httpx.AsyncClient(timeout=10) as http:
        answer = await http.post(
            base_url + "/v1/chat/completions",
            headers={"Authorization": f"Bearer {API_KEY}"},
            json={"model": MODEL, "stream": True, "messages": [{"role": "user", "content": "x"}]},
        )
    assert answer.status_code == 503, answer.text
    assert answer.json()["error"]["code"] == "server_busy"
    assert answer.headers["Retry-After"] == "1"
    hold.set()
    assert await holder


async def test_a_rejected_chat_request_logs_no_traceback(
    base_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR)
    async with httpx.AsyncClient() as http:
        for _ in range(3):
            answer = await http.post(
                base_url + "/v1/chat/completions",
                headers={"Authorization": "Bearer sk-wrong-key-000000"},
                content=CHAT,
            )
            assert answer.status_code == 401
    await asyncio.sleep(0)  # the server-side close runs after the client got its answer
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
