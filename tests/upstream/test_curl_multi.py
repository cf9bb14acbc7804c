"""The thin libcurl driver (ag2api.upstream.curl_multi) under UpstreamTransfer, against a raw HTTP
server on loopback whose every byte the test chooses."""

from __future__ import annotations

import asyncio
import gzip
import socket
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from ag2api.upstream.client import (
    CallSettings,
    UpstreamAborted,
    UpstreamConnectionError,
    UpstreamHTTPError,
    UpstreamProtocolError,
    UpstreamTransfer,
)
from ag2api.upstream.curl_multi import CurlMulti

Reply = Callable[[asyncio.StreamReader, asyncio.StreamWriter, bytes], Awaitable[None]]


@dataclass
class RawServer:
    """Answers each request with ``reply``; records request heads and connections."""

    reply: Reply
    heads: list[bytes] = field(default_factory=list)
    connections: int = 0
    closed: asyncio.Event = field(default_factory=asyncio.Event)
    port: int = 0
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        task = asyncio.current_task()
        assert task is not None
        self.tasks.append(task)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                self.heads.append(head)
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                await reader.readexactly(length)
                await self.reply(reader, writer, head)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        except asyncio.CancelledError:
            writer.close()
            raise
        finally:
            self.closed.set()
            writer.close()


def sse_reply(events: list[bytes], *, gzipped: bool = False) -> Reply:
    async def reply(_: asyncio.StreamReader, writer: asyncio.StreamWriter, head: bytes) -> None:
        body = b"".join(b"data: " + e + b"\n\n" for e in events)
        extra = b""
        if gzipped:
            body, extra = gzip.compress(body), b"Content-Encoding: gzip\r\n"
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
            + extra
            + b"Content-Length: %d\r\n\r\n" % len(body)
            + body
        )
        await writer.drain()

    return reply


@pytest.fixture
def serve(io_loop: Any) -> Iterator[Callable[[Reply], Awaitable[RawServer]]]:
    servers: list[tuple[asyncio.Server, RawServer]] = []

    async def start(reply: Reply) -> RawServer:
        raw = RawServer(reply)
        server = await asyncio.start_server(raw.handle, "127.0.0.1", 0)
        raw.port = server.sockets[0].getsockname()[1]
        servers.append((server, raw))
        return raw

    async def stop() -> None:
        for server, raw in servers:
            server.close()
            for task in raw.tasks:
                task.cancel()
            await asyncio.gather(*raw.tasks, return_exceptions=True)
            await server.wait_closed()

    yield start
    io_loop.run_sync(stop)


@pytest.fixture
def transport(io_loop: Any) -> Iterator[CurlMulti]:
    async def make() -> CurlMulti:
        return CurlMulti(16)

    multi = io_loop.run_sync(make)
    yield multi
    multi.close()


def settings(**changes: object) -> CallSettings:
    base: dict[str, object] = {
        "user_agent": "antigravity/test",
        "proxy": None,
        "connect_timeout": 5.0,
        "first_byte_timeout": 10.0,
        "idle_timeout": 10.0,
    }
    return CallSettings(**{**base, **changes})  # type: ignore[arg-type]


def call(transport: CurlMulti, url: str, **changes: object) -> UpstreamTransfer:
    return UpstreamTransfer(transport, url, b'{"x":1}', "tok-secret", settings(**changes), sse=True)


async def collect(upstream: UpstreamTransfer) -> list[dict[str, object]]:
    return [event async for event in upstream]


async def test_events_arrive_and_the_connection_is_reused(serve, transport):
    raw = await serve(sse_reply([b'{"response":{"n":1}}', b'{"response":{"n":2}}']))
    url = f"http://127.0.0.1:{raw.port}/v1internal:streamGenerateContent?alt=sse"
    for _ in range(3):
        assert await collect(call(transport, url)) == [{"n": 1}, {"n": 2}]
    assert raw.connections == 1  # keep-alive: one connection for three calls
    head = raw.heads[0].lower()
    assert b"authorization: bearer tok-secret" in head
    assert b"user-agent: antigravity/test" in head
    assert b"accept-encoding: identity" in head
    assert transport.running == 0


async def test_a_gzip_answer_is_decoded_even_when_identity_was_asked(serve, transport):
    raw = await serve(sse_reply([b'{"response":{"n":1}}'], gzipped=True))
    url = f"http://127.0.0.1:{raw.port}/s"
    assert await collect(call(transport, url)) == [{"n": 1}]
    gz = call(transport, url, accept_encoding="gzip")
    assert await collect(gz) == [{"n": 1}]
    assert b"accept-encoding: gzip" in raw.heads[-1].lower()


async def test_an_error_answer_keeps_its_status_body_and_headers(serve, transport):
    async def reply(_: asyncio.StreamReader, writer: asyncio.StreamWriter, head: bytes) -> None:
        body = b'{"error":{"code":429,"message":"slow down","status":"RESOURCE_EXHAUSTED"}}'
        writer.write(
            b"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 7\r\nContent-Type: application/json"
            b"\r\nContent-Length: %d\r\n\r\n" % len(body) + body
        )
        await writer.drain()

    raw = await serve(reply)
    with pytest.raises(UpstreamHTTPError) as caught:
        await collect(call(transport, f"http://127.0.0.1:{raw.port}/s"))
    assert caught.value.status == 429
    assert caught.value.headers["Retry-After"] == "7"
    assert "slow down" in caught.value.error.message


def stalled_after(prefix: bytes) -> Reply:
    async def reply(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, _: bytes) -> None:
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n" + b"%x\r\n%s\r\n" % (len(prefix), prefix)
        )
        await writer.drain()
        await reader.read()  # until the gateway closes the connection

    return reply


async def test_abort_stops_a_silent_transfer_and_closes_its_connection(serve, transport):
    raw = await serve(stalled_after(b'data: {"response":{"n":1}}\n\n'))
    upstream = call(transport, f"http://127.0.0.1:{raw.port}/s")
    assert await anext(upstream) == {"n": 1}
    upstream.abort("client gone")
    with pytest.raises(UpstreamAborted):
        await anext(upstream)
    await raw.closed.wait()  # the upstream saw the connection end
    assert transport.running == 0


async def test_a_malformed_event_stops_the_transfer_from_inside_the_callback(serve, transport):
    raw = await serve(stalled_after(b'data: {"response":{"n":1}}\n\ndata: {broken\n\n'))
    upstream = call(transport, f"http://127.0.0.1:{raw.port}/s")
    assert await anext(upstream) == {"n": 1}
    with pytest.raises(UpstreamProtocolError, match="malformed upstream event"):
        await anext(upstream)
    await raw.closed.wait()
    assert transport.running == 0
    # The handle went back to the pool in a usable state.
    ok = await serve(sse_reply([b'{"response":{"n":2}}']))
    assert await collect(call(transport, f"http://127.0.0.1:{ok.port}/s")) == [{"n": 2}]


async def test_calls_go_through_the_configured_proxy(serve, transport):
    proxy = await serve(sse_reply([b'{"response":{"via":"proxy"}}']))
    target = "http://upstream.invalid:9/v1internal:streamGenerateContent?alt=sse"
    upstream = call(transport, target, proxy=f"http://127.0.0.1:{proxy.port}")
    assert await collect(upstream) == [{"via": "proxy"}]
    assert proxy.heads[0].startswith(b"POST " + target.encode() + b" HTTP/1.1")


async def test_a_refused_connection_is_a_connection_error(transport):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens here once closed
    with pytest.raises(UpstreamConnectionError):
        await collect(call(transport, f"http://127.0.0.1:{port}/s"))


async def test_close_ends_running_transfers(serve):
    multi = CurlMulti(4)
    raw = await serve(stalled_after(b'data: {"response":{"n":1}}\n\n'))
    upstream = call(multi, f"http://127.0.0.1:{raw.port}/s")
    assert await anext(upstream) == {"n": 1}
    multi.close()
    await raw.closed.wait()
    assert multi.running == 0
    with pytest.raises(RuntimeError):
        call(multi, f"http://127.0.0.1:{raw.port}/s")
    upstream.abort()  # harmless once the transport is closed
