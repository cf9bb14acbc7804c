"""Writing a server-sent event stream in a client's dialect: events, backpressure, keepalive,
the terminator and in-band errors."""

from __future__ import annotations

import asyncio

from tornado.iostream import StreamClosedError
from tornado.web import RequestHandler

from ag2api.errors import GatewayError
from ag2api.jsoncodec import dumps_bytes
from ag2api.translate.dialect import SSE, Dialect, Framing, SseEvent, encode_event


class ClientGone(Exception):
    """The client closed the connection; stop producing."""


class SseStream:
    """Headers go out with the first event; from then on errors can only be sent in-band.

    A heartbeat writes the dialect's keepalive after ``interval`` seconds without a write. Before
    the first event it may also send the headers (so a proxy does not cut a long thinking pause),
    but only once :meth:`arm` says an upstream transfer is under way — a request still waiting for
    an account slot must keep its real status (503) — and only for dialects that allow it. From
    that moment on the request is not retried upstream.
    """

    __slots__ = (
        "_commit",
        "_dialect",
        "_framing",
        "_handler",
        "_interval",
        "_keepalive",
        "_last",
        "_loop",
        "_timer",
        "_wrote",
        "armed",
        "started",
    )

    def __init__(
        self, handler: RequestHandler, dialect: Dialect, interval: float, framing: Framing = SSE
    ) -> None:
        self._handler = handler
        self._dialect = dialect
        self._framing = framing
        self._keepalive = framing.keepalive if framing.keepalive is not None else dialect.keepalive
        self._wrote = False  # an event is out (JSON framing: the next needs a separator)
        self._interval = interval
        self._commit = dialect.commit_on_keepalive
        self._loop = asyncio.get_running_loop()
        self._last = self._loop.time()
        self._timer: asyncio.TimerHandle | None = None
        self.started = False
        self.armed = False

    def _start(self) -> None:
        h = self._handler
        h.set_status(200)
        h.set_header("Content-Type", self._framing.content_type)
        h.set_header("Cache-Control", "no-cache")
        h.set_header("X-Accel-Buffering", "no")
        self.started = True

    def arm(self) -> None:
        """An upstream call started: from now on silence is filled (counted from here)."""
        if not self.armed:
            self.armed = True
            self._last = self._loop.time()

    def start_heartbeat(self) -> None:
        self._timer = self._loop.call_later(self._interval, self._beat)

    def stop_heartbeat(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _beat(self) -> None:
        now = self._loop.time()
        if not self.armed:
            self._last = now  # still waiting for an account slot: keep the real status
        elif now - self._last >= self._interval * 0.99:
            if not self.started and self._commit:
                self._start()
            if self.started:
                self._handler.write(self._keepalive)
                self._handler.flush()  # a closed stream fails this future; Tornado retrieves it
            self._last = now
        self._timer = self._loop.call_later(self._last + self._interval - now, self._beat)

    async def send(self, events: list[SseEvent]) -> None:
        """Write ``events`` and wait until they are handed to the socket."""
        if not events:
            return
        if not self.started:
            self._start()
        self._last = self._loop.time()
        self._handler.write(self._encode(events))
        try:
            await self._handler.flush()
        except StreamClosedError:
            raise ClientGone from None

    def _encode(self, events: list[SseEvent]) -> bytes:
        framing = self._framing
        if framing.sse:
            if len(events) == 1:
                return encode_event(events[0], dumps_bytes)
            return b"".join([encode_event(e, dumps_bytes) for e in events])
        # A JSON array written as it comes: "[" first, "," between elements.
        out = [framing.separator if self._wrote else framing.opening]
        for i, (_, payload) in enumerate(events):
            if i:
                out.append(framing.separator)
            out.append(dumps_bytes(payload))
        self._wrote = True
        return b"".join(out)

    def _close_framing(self) -> None:
        framing = self._framing
        if not framing.sse:
            self._handler.write(
                framing.closing if self._wrote else framing.opening + framing.closing
            )

    async def done(self, events: list[SseEvent] | None = None) -> None:
        """The last ``events``, the terminator and the end of the response, in one write."""
        if not self.started:
            self._start()
        if events:
            self._handler.write(self._encode(events))
        self._close_framing()
        if self._dialect.terminator:
            self._handler.write(self._dialect.terminator)
        await self._finish()

    async def fail(self, error: GatewayError, events: list[SseEvent] | None = None) -> None:
        """One error event (or the dialect's ``events`` for it), then close without the
        terminator so every SDK raises."""
        if not self.started:
            self._start()
        self._handler.write(self._encode(events or [self._dialect.errors.event(error)]))
        self._close_framing()
        await self._finish()

    async def _finish(self) -> None:
        try:
            await self._handler.finish()
        except StreamClosedError:
            raise ClientGone from None
