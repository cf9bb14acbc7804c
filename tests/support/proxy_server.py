"""Real proxies on loopback for the tests: an HTTP proxy (absolute-form requests and CONNECT) and
a SOCKS5 proxy, each optionally asking for a user name and password, each recording what passed
through it. Plain asyncio; they reach only what the client asks for (the fake, on loopback).

Every request through the HTTP proxy gets a connection of its own to the far end (``Connection:
close``), so each one is seen and recorded; a CONNECT or SOCKS tunnel is recorded by the first
request line and body that go through it.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import re
import socket
import struct
from collections.abc import Callable
from dataclasses import dataclass, field

_REQUEST_LINE = re.compile(rb"(?:^|\r\n)((?:GET|POST|PUT|PATCH|DELETE|HEAD) \S+ HTTP/1\.[01])\r\n")


@dataclass(frozen=True)
class Passed:
    """One request that went through: the far end, the request line and the body's start."""

    target: str  # host:port
    line: str  # "POST /token HTTP/1.1" (or "CONNECT host:port" when nothing was readable)
    body: bytes
    proxy_auth: str | None  # the credentials the client gave, "user:password"


@dataclass
class _Base:
    user: str | None = None
    password: str | None = None
    passed: list[Passed] = field(default_factory=list)
    raw: bytearray = field(default_factory=bytearray)  # every byte clients sent through
    refused: int = 0  # clients turned away for wrong or missing credentials
    port: int = 0
    _server: asyncio.base_events.Server | None = None
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    async def start(self, port: int = 0) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Stop listening and cut every open tunnel (the port then refuses connections)."""
        if self._server is not None:
            self._server.close()
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            with contextlib.suppress(Exception):
                await self._server.wait_closed()
            self._server = None

    def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.ensure_future(self._guarded(reader, writer))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _guarded(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await self.handle(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, OSError):
            pass
        finally:
            writer.close()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        raise NotImplementedError

    def saw(self, needle: str) -> bool:
        """Whether ``needle`` went through (in a request line, header or body)."""
        return needle.encode() in self.raw

    async def _tunnel(
        self,
        target: str,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        auth: str | None,
        ready: bytes,
    ) -> None:
        host, _, port = target.rpartition(":")
        far_reader, far_writer = await asyncio.open_connection(host.strip("[]"), int(port))
        writer.write(ready)
        await writer.drain()

        def seen(chunk: bytes) -> None:
            self.raw += chunk
            # Each request line in what the client sends (a kept-alive tunnel carries several).
            for found in _REQUEST_LINE.finditer(chunk):
                rest = chunk[found.end() :]
                body = rest.split(b"\r\n\r\n", 1)[1] if b"\r\n\r\n" in rest else b""
                self.passed.append(Passed(target, found.group(1).decode(), body, auth))

        await _pipe_both(reader, writer, far_reader, far_writer, seen)


class HttpProxy(_Base):
    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        method, target, version = lines[0].split(" ", 2)
        headers = [h for h in lines[1:] if h]
        auth = _basic(headers)
        if self.user is not None and auth != f"{self.user}:{self.password}":
            self.refused += 1
            writer.write(
                b"HTTP/1.1 407 Proxy Authentication Required\r\n"
                b'Proxy-Authenticate: Basic realm="test"\r\nContent-Length: 0\r\n'
                b"Connection: close\r\n\r\n"
            )
            await writer.drain()
            return
        if method == "CONNECT":
            ready = b"HTTP/1.1 200 Connection established\r\n\r\n"
            await self._tunnel(target, reader, writer, auth, ready)
            return
        # An absolute-form request: to the far end in origin form, one connection each.
        rest = target.split("://", 1)[1]
        where, _, path = rest.partition("/")
        length = next(
            (int(h.split(":", 1)[1]) for h in headers if h.lower().startswith("content-length:")),
            0,
        )
        body = await reader.readexactly(length) if length else b""
        self.raw += head + body
        self.passed.append(Passed(where, f"{method} /{path} {version}", body, auth))
        kept = [
            h for h in headers if not h.lower().startswith(("proxy-", "connection:", "keep-alive:"))
        ]
        host, _, port = where.rpartition(":")
        far_reader, far_writer = await asyncio.open_connection(host, int(port or 80))
        request = [f"{method} /{path} {version}", *kept, "Connection: close", "", ""]
        far_writer.write("\r\n".join(request).encode("latin-1") + body)
        await far_writer.drain()
        try:
            while chunk := await far_reader.read(65536):
                writer.write(chunk)
                await writer.drain()
        finally:
            far_writer.close()


class Socks5Proxy(_Base):
    """SOCKS5 CONNECT (RFC 1928), with user name and password (RFC 1929) when set. ``silent``:
    accept connections and never answer (a proxy that times out)."""

    silent: bool = False

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.silent:
            await asyncio.sleep(3600)
        version, count = await reader.readexactly(2)
        methods = await reader.readexactly(count)
        wanted = 0x02 if self.user is not None else 0x00
        if version != 5 or wanted not in methods:
            writer.write(b"\x05\xff")
            self.refused += 1
            return
        writer.write(bytes([5, wanted]))
        auth = None
        if wanted == 0x02:
            _, ulen = await reader.readexactly(2)
            user = (await reader.readexactly(ulen)).decode()
            (plen,) = await reader.readexactly(1)
            password = (await reader.readexactly(plen)).decode()
            auth = f"{user}:{password}"
            ok = user == self.user and password == self.password
            writer.write(b"\x01\x00" if ok else b"\x01\x01")
            if not ok:
                self.refused += 1
                return
        _, command, _, kind = await reader.readexactly(4)
        if kind == 1:
            host = socket.inet_ntoa(await reader.readexactly(4))
        elif kind == 3:
            (size,) = await reader.readexactly(1)
            host = (await reader.readexactly(size)).decode()
        else:
            host = "[" + socket.inet_ntop(socket.AF_INET6, await reader.readexactly(16)) + "]"
        (port,) = struct.unpack("!H", await reader.readexactly(2))
        if command != 1:
            writer.write(b"\x05\x07\x00\x01\x00\x00\x00\x00\x00\x00")
            return
        ready = b"\x05\x00\x00\x01\x7f\x00\x00\x01" + struct.pack("!H", port)
        await self._tunnel(f"{host}:{port}", reader, writer, auth, ready)


def _basic(headers: list[str]) -> str | None:
    for h in headers:
        name, _, value = h.partition(":")
        if name.strip().lower() == "proxy-authorization" and value.strip().lower().startswith(
            "basic "
        ):
            return base64.b64decode(value.strip()[6:]).decode()
    return None


async def _pipe_both(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    far_reader: asyncio.StreamReader,
    far_writer: asyncio.StreamWriter,
    seen: Callable[[bytes], None],
) -> None:
    async def pipe(
        src: asyncio.StreamReader, dst: asyncio.StreamWriter, note: Callable[[bytes], None]
    ) -> None:
        try:
            while chunk := await src.read(65536):
                note(chunk)
                dst.write(chunk)
                await dst.drain()
        finally:
            dst.close()

    await asyncio.gather(
        pipe(reader, far_writer, seen),
        pipe(far_reader, writer, lambda chunk: None),
        return_exceptions=True,
    )
