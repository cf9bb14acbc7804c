"""Writing an OpenAI SSE stream to the client: events, backpressure, [DONE], in-band errors."""

from __future__ import annotations

import asyncio
from typing import Any

from tornado.iostream import StreamClosedError
from tornado.web import RequestHandler

from ag2api.errors import GatewayError
from ag2api.jsoncodec import dumps_bytes

DONE = b"data: [DONE]\n\n"
KEEPALIVE = b": keepalive\n\n"


class ClientGone(Exception):
    """The client closed the connection; stop producing."""


class SseRelay:
    """Headers go out with the first event; from then on errors can only be sent in-band.

    A heartbeat writes ``: keepalive`` after ``keepalive`` seconds without a write; before the
    first event it also sends the headers then, so a client behind a proxy is not cut off during a
    long thinking pause (and from that moment the request is no longer retried upstream).
    """

    __slots__ = ("_handler", "_interval", "_last", "_loop", "_timer", "started")

    def __init__(self, handler: RequestHandler, keepalive: float) -> None:
        self._handler = handler
        self._interval = keepalive
        self._loop = asyncio.get_running_loop()
        self._last = self._loop.time()
        self._timer: asyncio.TimerHandle | None = None
        self.started = False

    def _start(self) -> None:
        h = self._handler
        h.set_header("Content-Type", "text/event-stream; charset=utf-8")
        h.set_header("Cache-Control", "no-cache")
        h.set_header("X-Accel-Buffering", "no")
        self.started = True

    def start_heartbeat(self) -> None:
        self._timer = self._loop.call_later(self._interval, self._beat)

    def stop_heartbeat(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _beat(self) -> None:
        now = self._loop.time()
        if now - self._last >= self._interval * 0.99:
            if not self.started:
                self._start()
            self._handler.write(KEEPALIVE)
            self._handler.flush()  # a closed stream fails this future; Tornado retrieves it
            self._last = now
        self._timer = self._loop.call_later(self._last + self._interval - now, self._beat)

    async def send(self, chunks: list[dict[str, Any]]) -> None:
        """Write ``chunks`` as ``data:`` events and wait until they are handed to the socket."""
        if not chunks:
            return
        if not self.started:
            self._start()
        self._last = self._loop.time()
        self._handler.write(b"".join([b"data: " + dumps_bytes(c) + b"\n\n" for c in chunks]))
        try:
            await self._handler.flush()
        except StreamClosedError:
            raise ClientGone from None

    async def done(self) -> None:
        if not self.started:
            self._start()
        self._handler.write(DONE)
        await self._finish()

    async def fail(self, error: GatewayError) -> None:
        """One error event, then close without [DONE] so every SDK raises."""
        if not self.started:
            self._start()
        self._handler.write(b"data: " + dumps_bytes(error.to_openai()) + b"\n\n")
        await self._finish()

    async def _finish(self) -> None:
        try:
            await self._handler.finish()
        except StreamClosedError:
            raise ClientGone from None
