"""Requests to the Antigravity backend and the decoded answers.

Every call goes through the one shared :class:`CurlMulti` (a thin libcurl driver), so each upstream
chunk is decoded (:class:`SseDecoder`) the moment it arrives and the transfer can be aborted at any
time (client gone, first-byte or idle timeout).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tornado.httputil import HTTPHeaders

from ag2api import jsoncodec
from ag2api.upstream.curl_multi import ABORTED, TIMED_OUT, CurlMulti, Transfer
from ag2api.upstream.google_error import GoogleError, parse_google_error
from ag2api.upstream.sse import SseDecoder

STREAM_PATH = "/v1internal:streamGenerateContent?alt=sse"
GENERATE_PATH = "/v1internal:generateContent"
MODELS_PATH = "/v1internal:fetchAvailableModels"
COUNT_TOKENS_PATH = "/v1internal:countTokens"
LOAD_CODE_ASSIST_PATH = "/v1internal:loadCodeAssist"
_ERROR_BODY_CAP = 1024 * 1024
_RAW_HEAD_CAP = 64 * 1024
_BODY_CAP = 512 * 1024 * 1024


class UpstreamProblem(Exception):
    """Base of everything that can go wrong talking to the upstream."""


class UpstreamHTTPError(UpstreamProblem):
    def __init__(self, status: int, body: bytes, headers: HTTPHeaders | None = None) -> None:
        self.status = status
        self.body = body
        self.headers = headers or HTTPHeaders()
        self.error: GoogleError = parse_google_error(status, body)
        super().__init__(f"HTTP {status}: {self.error.message[:300]}")

    @classmethod
    def notice(cls, text: str) -> UpstreamHTTPError:
        """The "no longer supported" notice sent as answer text, as the error it really is."""
        body = {"error": {"code": 400, "message": text, "status": "FAILED_PRECONDITION"}}
        return cls(400, jsoncodec.dumps_bytes(body))


class UpstreamConnectionError(UpstreamProblem):
    """No answer: DNS, refused, reset, TLS, proxy — anything before or instead of a status."""


class UpstreamTimeoutError(UpstreamProblem):
    def __init__(self, phase: str, seconds: float) -> None:
        self.phase = phase
        super().__init__(f"no {phase.replace('_', ' ')} from upstream within {seconds:g}s")


class UpstreamProtocolError(UpstreamProblem):
    """The upstream answered 200 with something that is not the protocol (bad JSON, no events)."""


class UpstreamAborted(UpstreamProblem):
    """We ended the transfer ourselves (client gone, shutdown)."""


@dataclass(frozen=True)
class CallSettings:
    """What one call needs from the config snapshot it started with."""

    user_agent: str
    proxy: str | None
    connect_timeout: float
    first_byte_timeout: float
    idle_timeout: float
    ca_file: str | None = None
    # The Accept-Encoding header; libcurl decodes whatever encoding comes back.
    accept_encoding: str = "identity"


class Watchdog:
    """First-byte then idle-between-chunks deadline; ``touch`` is two stores.

    One timer per transfer: it first fires at the earlier of the two limits (no deadline can come
    sooner), then at whichever deadline applies by then, so no expiry is ever noticed late and a
    transfer that ends in time never moves its timer on its first byte."""

    __slots__ = ("_expire", "_first", "_handle", "_idle", "_loop", "last", "started")

    def __init__(
        self, first_byte: float, idle: float, expire: Callable[[str, float], None]
    ) -> None:
        self._loop = asyncio.get_running_loop()
        self._first, self._idle, self._expire = first_byte, idle, expire
        self.last = self._loop.time()
        self.started = False
        self._handle: asyncio.TimerHandle | None = self._loop.call_at(
            self.last + min(first_byte, idle), self._check
        )

    def touch(self) -> None:
        # From the first byte on, the idle limit applies (counted from the latest byte).
        self.last = self._loop.time()
        self.started = True

    def _check(self) -> None:
        limit = self._idle if self.started else self._first
        deadline = self.last + limit
        if self._loop.time() >= deadline:
            self._handle = None
            self._expire("idle_chunk" if self.started else "first_byte", limit)
        else:
            self._handle = self._loop.call_at(deadline, self._check)

    def cancel(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None


class UpstreamTransfer:
    """One transfer; async-iterate it for Gemini responses (SSE events, or the one JSON body)."""

    def __init__(
        self,
        transport: CurlMulti,
        url: str,
        body: bytes,
        token: str,
        settings: CallSettings,
        *,
        sse: bool,
    ) -> None:
        self._transport = transport
        self._sse = sse
        self._decoder = SseDecoder()
        # Arrived, not yet read (a list: a deque's first block alone is 600 bytes per stream).
        self._items: list[dict[str, Any]] = []
        self._waiter: asyncio.Future[None] | None = None
        self._error: BaseException | None = None
        self._failed = False  # the error was handed to the reader
        self._finished = False
        self._status = 0
        self._body = bytearray()
        self._abort_error: UpstreamProblem | None = None
        self._connect_timeout = settings.connect_timeout
        self._watchdog = Watchdog(settings.first_byte_timeout, settings.idle_timeout, self._timeout)
        self._transfer: Transfer = transport.start(
            url,
            body,
            [
                f"Authorization: Bearer {token}",
                "Content-Type: application/json",
                "Accept: text/event-stream" if sse else "Accept: application/json",
                f"User-Agent: {settings.user_agent}",
                "Expect:",  # no 100-continue round trip before a large body
            ],
            on_data=self._on_chunk,
            on_done=self._on_done,
            connect_timeout=settings.connect_timeout,
            accept_encoding=settings.accept_encoding,
            proxy=settings.proxy,
            ca_file=settings.ca_file,
        )

    # -- consumer side -------------------------------------------------------------------
    def __aiter__(self) -> UpstreamTransfer:
        return self

    async def __anext__(self) -> dict[str, Any]:
        while not self._items:
            if self._finished:
                if self._error is not None:
                    raise self._hand_over_error()
                raise StopAsyncIteration
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        return self._items.pop(0)

    @property
    def succeeded(self) -> bool:
        """The transfer ended normally and every event was read."""
        return self._finished and self._error is None and not self._failed and not self._items

    def _hand_over_error(self) -> BaseException:
        """The error that ended the transfer, given to the reader and not kept: its traceback will
        hold the reading frame, and so this transfer (a reference cycle with the request body that
        only the cycle collector would free)."""
        error, self._error, self._abort_error = self._error, None, None
        assert error is not None
        self._failed = True
        return error

    def take_ready(self) -> list[dict[str, Any]]:
        """Events that already arrived, without waiting (lets a fast upstream be relayed in one
        write instead of one per event)."""
        items = self._items
        if not items:
            return []
        self._items = []
        return items

    def abort(self, reason: str = "cancelled by the gateway") -> None:
        """Stop the transfer now; iteration ends with :class:`UpstreamAborted`."""
        self._stop(UpstreamAborted(reason))

    def _stop(self, error: UpstreamProblem) -> None:
        if self._finished or self._abort_error is not None:
            return
        self._abort_error = error
        self._transport.abort(self._transfer)
        self._finish(error)

    # -- producer side (libcurl's callbacks, inside the event loop) ------------------------
    def _on_chunk(self, chunk: bytes) -> bool:
        """A piece of the (decoded) body; False stops the transfer."""
        if self._finished or self._abort_error is not None:
            return False
        self._watchdog.touch()
        if not self._status:
            self._status = self._transfer.status  # its status line came before any body
        if self._status != 200 or not self._sse:
            # A JSON answer is kept whole (up to 512 MiB); an error body only its first MiB.
            if len(self._body) < (_BODY_CAP if self._status == 200 else _ERROR_BODY_CAP):
                self._body += chunk
            elif self._status == 200:
                self._fail(UpstreamProtocolError("upstream answer larger than 512 MiB"))
                return False
            return True
        if not self._decoder.seen_data and len(self._body) < _RAW_HEAD_CAP:
            self._body += chunk
        for payload in self._decoder.feed(chunk):
            self._on_payload(payload)
        return self._abort_error is None

    def _on_payload(self, payload: bytes) -> None:
        if payload == b"[DONE]" or self._finished:
            return
        try:
            obj = jsoncodec.loads(payload)
        except ValueError:
            self._fail(UpstreamProtocolError(f"malformed upstream event: {payload[:200]!r}"))
            return
        if not isinstance(obj, dict):
            self._fail(UpstreamProtocolError("upstream event is not a JSON object"))
            return
        if "error" in obj and "response" not in obj:
            code = obj["error"].get("code") if isinstance(obj["error"], dict) else None
            self._fail(UpstreamHTTPError(code if isinstance(code, int) else 500, payload))
            return
        # The Gemini response inside the envelope (a bare one is taken as it is).
        inner = obj.get("response")
        self._items.append(inner if isinstance(inner, dict) else obj)
        if self._waiter is not None:  # the reader waits (else it takes this with the others)
            self._wake()

    def _on_done(self, errno: int, message: str, status: int, header_lines: list[bytes]) -> None:
        self._watchdog.cancel()
        if self._finished:
            return
        if self._abort_error is not None:
            self._finish(self._abort_error)
            return
        if errno:
            if errno == TIMED_OUT:
                self._finish(UpstreamTimeoutError("connection", self._connect_timeout))
            elif errno == ABORTED:
                self._finish(UpstreamAborted(message))
            else:
                self._finish(UpstreamConnectionError(f"{message} (curl error {errno})"))
            return
        if status != 200:
            headers = _parse_headers(header_lines)
            self._finish(UpstreamHTTPError(status, bytes(self._body), headers))
            return
        if not self._sse:
            self._on_whole_body()
        else:
            for payload in self._decoder.close():
                self._on_payload(payload)
            if not self._decoder.seen_data and not self._finished:
                self._on_whole_body()
        self._finish(None)

    def _on_whole_body(self) -> None:
        """A JSON body (non-stream, or a stream endpoint that answered without SSE framing)."""
        text = bytes(self._body).strip()
        if not text:
            self._fail(UpstreamProtocolError("upstream answered 200 with an empty body"))
            return
        if not text.startswith(b"{"):
            self._fail(UpstreamProtocolError(f"upstream sent no events: {text[:300]!r}"))
            return
        self._on_payload(text)

    def _timeout(self, phase: str, seconds: float) -> None:
        self._stop(UpstreamTimeoutError(phase, seconds))

    def _fail(self, error: UpstreamProblem) -> None:
        """An error found in the body: stop the transfer and report it after queued items."""
        if self._abort_error is None:
            self._abort_error = error
            self._transport.abort(self._transfer)
        self._finish(error)

    def _finish(self, error: BaseException | None) -> None:
        if self._finished:
            return
        self._finished = True
        self._error = error
        self._watchdog.cancel()
        self._wake()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)


def _parse_headers(lines: list[bytes]) -> HTTPHeaders:
    """The raw header lines of an error answer (kept for Retry-After and friends)."""
    headers = HTTPHeaders()
    for raw in lines[1:]:
        line = raw.decode("latin-1").rstrip("\r\n")
        if line:
            try:
                headers.parse_line(line)
            except Exception:  # a malformed line from the upstream is not worth failing for
                continue
    return headers


class AntigravityClient:
    """Builds v1internal calls on the shared transport."""

    def __init__(self, transport: CurlMulti) -> None:
        self.transport = transport

    def close(self) -> None:
        self.transport.close()

    def stream(
        self, base_url: str, token: str, envelope: dict[str, Any], settings: CallSettings
    ) -> UpstreamTransfer:
        return UpstreamTransfer(
            self.transport,
            base_url + STREAM_PATH,
            jsoncodec.dumps_bytes(envelope),
            token,
            settings,
            sse=True,
        )

    async def generate(
        self, base_url: str, token: str, envelope: dict[str, Any], settings: CallSettings
    ) -> dict[str, Any]:
        return await self._one(base_url + GENERATE_PATH, token, envelope, settings)

    async def post_json(
        self, base_url: str, path: str, token: str, body: dict[str, Any], settings: CallSettings
    ) -> dict[str, Any]:
        return await self._one(base_url + path, token, body, settings)

    async def _one(
        self, url: str, token: str, body: dict[str, Any], settings: CallSettings
    ) -> dict[str, Any]:
        transfer = UpstreamTransfer(
            self.transport, url, jsoncodec.dumps_bytes(body), token, settings, sse=False
        )
        try:
            return await anext(transfer)
        except BaseException:
            transfer.abort()  # cancelled (client gone): stop the transfer too
            raise
