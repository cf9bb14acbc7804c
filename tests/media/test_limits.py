"""Remote images cannot amplify one request.

A loopback image server (below) records every connection: how many are open at once, and which
ones the gateway closed before their answer was complete. ``images.allow_private`` lets the
gateway fetch from loopback, as in test_images.py.
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import socket
import tracemalloc
from collections.abc import Callable, Iterator
from typing import Any

import openai
import pytest

from ag2api.testing.fake_upstream import FakeUpstream, Step
from tests.support.clients import API_KEY

PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 30_000
MIB = 1024 * 1024
BLOB = MIB // 2
WAIT = 10  # a guard against hanging, never a pause: every wait below ends on an event


class ImageServer:
    """HTTP/1.1 on loopback. ``/img/<tag>``: a 30 KB PNG. ``/hold/<tag>``: headers and 1 KB, then
    the rest once :meth:`release` is called (or nothing, if the gateway hangs up first).
    ``/big/<tag>``: 8 MB streamed; ``/blob/<tag>``: 512 KiB at once. ``/fail/<n>``: a 404 once ``n``
    holds are open."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self.requests: list[str] = []
        # Requests not yet answered in full (held ones until released), per tag prefix ("r1" of
        # "r1-3"), and the most there were at once, per tag and in all.
        self.pending: dict[str, int] = {}
        self.max_pending: dict[str, int] = {}
        self.max_pending_all = 0
        self.closed_early: set[str] = set()
        self.held: list[str] = []
        self.completed = 0
        self._gates: dict[str, asyncio.Event] = {}
        self._changed = asyncio.Event()
        self._released: set[str] = set()
        self._server: asyncio.Server | None = None
        self.url = ""

    async def start(self) -> None:
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        self._server = await asyncio.start_server(self._handle, self.host, 0, family=family)
        port = self._server.sockets[0].getsockname()[1]
        self.url = (
            f"http://[{self.host}]:{port}" if ":" in self.host else f"http://{self.host}:{port}"
        )

    async def stop(self) -> None:
        for gate in self._gates.values():
            gate.set()
        assert self._server is not None
        self._server.close()

    async def until(self, predicate: Callable[[], bool]) -> None:
        async def wait() -> None:
            while not predicate():
                self._changed.clear()
                await self._changed.wait()

        await asyncio.wait_for(wait(), WAIT)

    def release(self, path: str) -> None:
        self._released.add(path)
        self.pending[_tag(path)] -= 1
        self._gates.setdefault(path, asyncio.Event()).set()

    def _note(self) -> None:
        self._changed.set()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        path = head.split(b" ")[1].decode()
        tag = _tag(path)
        self.requests.append(path)
        self.pending[tag] = self.pending.get(tag, 0) + 1
        self.max_pending[tag] = max(self.max_pending.get(tag, 0), self.pending[tag])
        self.max_pending_all = max(self.max_pending_all, sum(self.pending.values()))
        self._note()
        try:
            if await self._respond(path, reader, writer):
                self.completed += 1
            else:
                self.closed_early.add(path)
        except ConnectionError:
            self.closed_early.add(path)
        finally:
            if path not in self._released:
                self.pending[tag] -= 1
            writer.close()
            self._note()

    async def _respond(
        self, path: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> bool:
        kind = path.split("/")[1]
        if kind == "fail":
            await self.until(lambda: len(self.held) >= int(path.split("/")[2]))
            writer.write(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
            await writer.drain()
            return True
        size = {"big": 8_000_000, "blob": BLOB}.get(kind, len(PNG))
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nConnection: close\r\n"
            b"Content-Length: %d\r\n\r\n" % size
        )
        if kind == "blob":
            writer.write(PNG + b"\1" * (BLOB - len(PNG)))
            await writer.drain()
            return True
        if kind == "img":
            writer.write(PNG)
            await writer.drain()
            return True
        if kind == "big":
            for _ in range(size // 16_000):
                writer.write(b"\0" * 16_000)
                await writer.drain()
            return True
        writer.write(PNG[:1000])
        await writer.drain()
        self.held.append(path)
        self._note()
        gone = asyncio.ensure_future(reader.read(1))  # b"" or a reset when the gateway hangs up
        gate = asyncio.ensure_future(self._gates.setdefault(path, asyncio.Event()).wait())
        try:
            await asyncio.wait({gone, gate}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            gate.cancel()
        if gone.done():
            gone.exception()  # a reset counts as hung up too
            return False
        gone.cancel()
        writer.write(PNG[1000:])
        await writer.drain()
        return True


def _tag(path: str) -> str:
    return path.rsplit("/", 1)[-1].split("-")[0]


@pytest.fixture
def images(io_loop: Any) -> Iterator[ImageServer]:
    server = ImageServer()
    io_loop.run_sync(server.start)
    yield server
    io_loop.run_sync(server.stop)


def message(*urls: str) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = [{"type": "text", "text": "what are these?"}]
    parts += [{"type": "image_url", "image_url": {"url": url}} for url in urls]
    return [{"role": "user", "content": parts}]


async def ask(client: openai.AsyncOpenAI, *urls: str) -> str:
    done = await client.chat.completions.create(
        model="gemini-2.5-flash",
        messages=message(*urls),  # type: ignore[arg-type]
    )
    return done.choices[0].message.content or ""


async def refused(client: openai.AsyncOpenAI, *urls: str) -> openai.BadRequestError:
    with pytest.raises(openai.BadRequestError) as info:
        await ask(client, *urls)
    return info.value


def loopback(**images: Any) -> dict[str, Any]:
    return {"images": {"allow_private": True, "timeout": 60, **images}}


@pytest.mark.parametrize("config_overrides", [loopback(max_images=3)])
async def test_too_many_images_is_400_before_any_fetch(
    client: openai.AsyncOpenAI, fake: FakeUpstream, images: ImageServer, config_overrides: Any
) -> None:
    assert (await ask(client, *(f"{images.url}/img/{i}" for i in range(3)))).endswith(
        "I see 3 image(s): image/png, image/png, image/png."
    )
    fetched = len(images.requests)
    error = await refused(client, *(f"{images.url}/img/{i}" for i in range(4)))
    assert error.param == "messages" and "4 remote image URLs" in error.message
    assert "at most 3" in error.message
    assert len(images.requests) == fetched  # nothing fetched for the refused request


@pytest.mark.parametrize(
    "config_overrides", [loopback(max_bytes=10 * 1024 * 1024, max_total_bytes=100_000)]
)
async def test_total_bytes_cap_stops_the_download(
    client: openai.AsyncOpenAI, fake: FakeUpstream, images: ImageServer, config_overrides: Any
) -> None:
    assert await ask(client, f"{images.url}/img/1", f"{images.url}/img/2")  # 60 KB: fine
    error = await refused(client, f"{images.url}/img/3", f"{images.url}/big/4")
    assert "larger than 100000 bytes in total" in error.message
    assert "messages[0].content[" in error.message
    # The 8 MB answer was cut off, not read to the end.
    await images.until(lambda: "/big/4" in images.closed_early)
    assert len(fake.generate_requests()) == 1


@pytest.mark.parametrize("config_overrides", [loopback(concurrency=2, concurrency_total=3)])
async def test_fetches_are_bounded_per_request_and_overall(
    client: openai.AsyncOpenAI, fake: FakeUpstream, images: ImageServer, config_overrides: Any
) -> None:
    first = asyncio.ensure_future(ask(client, *(f"{images.url}/hold/r1-{i}" for i in range(4))))
    second = asyncio.ensure_future(ask(client, *(f"{images.url}/hold/r2-{i}" for i in range(4))))
    for released in range(8):
        # Release the oldest held image each time the gateway has as many waiting as it may.
        await images.until(lambda: len(images.held) >= min(released + 3, 8))  # noqa: B023
        images.release(images.held[released])
    assert (await first).endswith("I see 4 image(s): " + ", ".join(["image/png"] * 4) + ".")
    assert await second
    assert images.max_pending_all == 3
    assert max(images.max_pending.values()) == 2  # neither request went over its own 2
    assert images.completed == 8 and not images.closed_early


@pytest.mark.parametrize("config_overrides", [{**loopback(), "upstream": {"max_connections": 1}}])
async def test_image_fetches_do_not_take_upstream_connections(
    client: openai.AsyncOpenAI, fake: FakeUpstream, images: ImageServer, config_overrides: Any
) -> None:
    held = asyncio.ensure_future(ask(client, f"{images.url}/hold/a"))
    await images.until(lambda: len(images.held) == 1)
    # The upstream's only connection slot is free for another client meanwhile.
    other = await asyncio.wait_for(ask(client), WAIT)
    assert "fake upstream" in other
    images.release("/hold/a")
    assert (await held).endswith("I see 1 image(s): image/png.")


@pytest.mark.parametrize("config_overrides", [loopback()])
async def test_a_failed_image_cancels_the_other_fetches(
    client: openai.AsyncOpenAI,
    fake: FakeUpstream,
    images: ImageServer,
    config_overrides: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    urls = (f"{images.url}/hold/a", f"{images.url}/hold/b", f"{images.url}/fail/2")
    error = await refused(client, *urls)
    assert "HTTP 404" in error.message
    assert "messages[0].content[3].image_url.url: " in error.message
    # Both other downloads were hung up on, not left running after the client had its 400.
    await images.until(lambda: {"/hold/a", "/hold/b"} <= images.closed_early)
    assert fake.generate_requests() == []
    # A client's bad image is no fault of the gateway: one INFO line, no ERROR per cancelled
    # sibling (a client could otherwise write ERROR lines at will).
    assert not [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    told = [r for r in caplog.records if "HTTP 404" in r.getMessage()]
    assert len(told) == 1 and told[0].levelno in (logging.INFO, logging.WARNING)


@pytest.mark.parametrize("config_overrides", [loopback()])
async def test_a_client_that_leaves_cancels_its_fetches(
    base_url: str, fake: FakeUpstream, images: ImageServer, config_overrides: Any
) -> None:
    body = json.dumps(
        {
            "model": "gemini-2.5-flash",
            "messages": message(f"{images.url}/hold/a", f"{images.url}/hold/b"),
        }
    ).encode()
    host, port = base_url.removeprefix("http://").rsplit(":", 1)
    _, writer = await asyncio.open_connection(host, int(port))
    writer.write(
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: gateway\r\nContent-Type: application/json\r\n"
        b"Authorization: Bearer %s\r\nContent-Length: %d\r\n\r\n%s"
        % (API_KEY.encode(), len(body), body)
    )
    await writer.drain()
    await images.until(lambda: len(images.held) == 2)
    writer.close()
    await images.until(lambda: {"/hold/a", "/hold/b"} <= images.closed_early)
    assert fake.generate_requests() == []


UPSTREAM_400 = {"error": {"code": 400, "message": "bad", "status": "INVALID_ARGUMENT"}}


@pytest.mark.parametrize(
    ("config_overrides", "outcome"),
    [
        (loopback(), "answered"),
        (loopback(max_total_bytes=3 * BLOB + 100), "over the total"),
        (loopback(), "upstream 400"),
    ],
)
async def test_fetched_images_are_freed_without_the_cycle_collector(
    client: openai.AsyncOpenAI,
    fake: FakeUpstream,
    images: ImageServer,
    config_overrides: Any,
    outcome: str,
) -> None:
    """Each request's images (2 MiB here, plus their base64) are freed by reference counting
    alone once it is answered or refused: the gateway's raised GC thresholds rarely run the
    cycle collector."""

    async def one_round(tag: str) -> None:
        urls = [f"{images.url}/blob/{tag}-{i}" for i in range(4)]
        if outcome == "answered":
            assert await ask(client, *urls)
        elif outcome == "over the total":
            assert "in total" in (await refused(client, *urls)).message
        else:
            fake.script(Step(status=400, body=UPSTREAM_400))
            assert "bad" in (await refused(client, *urls)).message
        fake.requests.clear()  # the fake keeps every request body it got

    await one_round("warm")
    gc.collect()
    gc.disable()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for n in range(2):
            await one_round(f"r{n}")
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
        gc.enable()
    assert grown < MIB, f"{grown / MIB:.1f} MiB still held after two rounds of 2 MiB"


BAD_URLS = [
    ("http://127.0.0.1:99999/a.png", "not a number from 1 to 65535"),
    ("http://[::1/a.png", "no closing ']'"),
    ("http://[::1", "no closing ']'"),
    ("http://" + "a" * 64 + ".example/a.png", "label longer than 63"),
    ("http://bad\u00e9" + "x" * 70 + ".example/a.png", "not a valid IDNA name"),
    ("http://127.1/a.png", "dotted a.b.c.d"),
    ("http://x\\@127.0.0.1/a.png", "backslash"),
]


@pytest.mark.parametrize(("url", "reason"), BAD_URLS)
async def test_malformed_image_urls_are_400_naming_the_field(
    client: openai.AsyncOpenAI, fake: FakeUpstream, url: str, reason: str
) -> None:
    error = await refused(client, url)
    assert error.param == "messages"
    assert "messages[0].content[1].image_url.url: " in error.message
    assert reason in error.message


@pytest.mark.parametrize("config_overrides", [loopback()])
async def test_userinfo_is_refused_even_where_private_addresses_are_allowed(
    client: openai.AsyncOpenAI, fake: FakeUpstream, images: ImageServer, config_overrides: Any
) -> None:
    tricked = images.url.replace("http://", "http://user@") + "/img/1"
    assert "user@host" in (await refused(client, tricked)).message
    assert images.requests == []


@pytest.mark.parametrize(
    "url",
    ["http://[64:ff9b::7f00:1]/a.png", "http://[2002:7f00:1::1]/a.png", "http://[::ffff:7f00:1]/"],
)
async def test_embedded_private_addresses_are_refused(
    client: openai.AsyncOpenAI, fake: FakeUpstream, url: str
) -> None:
    assert "non-public address" in (await refused(client, url)).message


def has_ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.mark.skipif(not has_ipv6_loopback(), reason="this machine has no IPv6 loopback")
@pytest.mark.parametrize("config_overrides", [loopback()])
async def test_ipv6_literal_urls_are_fetched(
    client: openai.AsyncOpenAI, fake: FakeUpstream, config_overrides: Any
) -> None:
    server = ImageServer("::1")
    await server.start()
    try:
        assert server.url.startswith("http://[::1]:")
        assert (await ask(client, f"{server.url}/img/1")).endswith("I see 1 image(s): image/png.")
        # The same address written out in full is fetched the same way.
        longhand = server.url.replace("[::1]", "[0:0:0:0:0:0:0:1]")
        assert (await ask(client, f"{longhand}/img/2")).endswith("I see 1 image(s): image/png.")
        assert server.requests == ["/img/1", "/img/2"]
    finally:
        await server.stop()
