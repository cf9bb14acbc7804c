"""Writing an OpenAI SSE stream to the client: events, backpressure, [DONE], in-band errors."""

from __future__ import annotations

from typing import Any

from tornado.iostream import StreamClosedError
from tornado.web import RequestHandler

from ag2api.errors import GatewayError
from ag2api.jsoncodec import dumps_bytes

DONE = b"data: [DONE]\n\n"


class ClientGone(Exception):
    """The client closed the connection; stop producing."""


class SseRelay:
    """Headers go out with the first event; from then on errors can only be sent in-band."""

    __slots__ = ("_handler", "started")

    def __init__(self, handler: RequestHandler) -> None:
        self._handler = handler
        self.started = False

    def _start(self) -> None:
        h = self._handler
        h.set_header("Content-Type", "text/event-stream; charset=utf-8")
        h.set_header("Cache-Control", "no-cache")
        h.set_header("X-Accel-Buffering", "no")
        self.started = True

    async def send(self, chunks: list[dict[str, Any]]) -> None:
        """Write ``chunks`` as ``data:`` events and wait until they are handed to the socket."""
        if not chunks:
            return
        if not self.started:
            self._start()
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
