"""Requests to the Antigravity backend and the decoded answers.

Every call goes through the one shared :class:`AbortableCurlClient` with a ``streaming_callback``,
so each upstream chunk is decoded (:class:`SseDecoder`) the moment it arrives and the transfer can
be aborted at any time (client gone, first-byte or idle timeout).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pycurl
from tornado.httpclient import HTTPRequest, HTTPResponse
from tornado.httputil import HTTPHeaders

from ag2api import jsoncodec
from ag2api.upstream.envelope import unwrap
from ag2api.upstream.google_error import GoogleError, parse_google_error
from ag2api.upstream.sse import SseDecoder
from ag2api.upstream.transport import ABORTED, TIMED_OUT, AbortableCurlClient, no_header_trace

STREAM_PATH = "/v1internal:streamGenerateContent?alt=sse"
GENERATE_PATH = "/v1internal:generateContent"
MODELS_PATH = "/v1internal:fetchAvailableModels"
COUNT_TOKENS_PATH = "/v1internal:countTokens"
_ERROR_BODY_CAP = 1024 * 1024
_RAW_HEAD_CAP = 64 * 1024


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


class Watchdog:
    """First-byte then idle-between-chunks deadline; ``touch`` is a single float store."""

    __slots__ = ("_expire", "_first", "_handle", "_idle", "_loop", "last", "started")

    def __init__(
        self, first_byte: float, idle: float, expire: Callable[[str, float], None]
    ) -> None:
        self._loop = asyncio.get_running_loop()
        self._first, self._idle, self._expire = first_byte, idle, expire
        self.last = self._loop.time()
        self.started = False
        self._handle: asyncio.TimerHandle | None = self._loop.call_at(
            self.last + first_byte, self._check
        )

    def touch(self) -> None:
        self.last = self._loop.time()
        if not self.started:
            # From the first byte on, the (usually shorter) idle limit applies.
            self.started = True
            if self._handle is not None:
                self._handle.cancel()
                self._handle = self._loop.call_at(self.last + self._idle, self._check)

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


class UpstreamCall:
    """One transfer; async-iterate it for Gemini responses (SSE events, or the one JSON body)."""

    def __init__(
        self,
        http: AbortableCurlClient,
        url: str,
        body: bytes,
        token: str,
        settings: CallSettings,
        *,
        sse: bool,
    ) -> None:
        self._http = http
        self._sse = sse
        self._decoder = SseDecoder()
        self._items: deque[dict[str, Any]] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self._error: BaseException | None = None
        self._finished = False
        self._status = 0
        self._body = bytearray()
        self._abort_error: UpstreamProblem | None = None
        headers = {
            "Authorization": f"Bearer {token}",
            "Content-Type": "application/json",
            "Accept": "text/event-stream" if sse else "application/json",
        }
        self.request = HTTPRequest(
            url,
            method="POST",
            body=body,
            headers=headers,
            user_agent=settings.user_agent,
            connect_timeout=settings.connect_timeout,
            request_timeout=0,
            decompress_response=True,
            streaming_callback=self._on_chunk,
            prepare_curl_callback=self._prepare_curl,
            ca_certs=settings.ca_file,
        )
        self._proxy = settings.proxy
        self._curl: pycurl.Curl | None = None
        self._watchdog = Watchdog(settings.first_byte_timeout, settings.idle_timeout, self._timeout)
        future = http.fetch(self.request, raise_error=False)
        future.add_done_callback(self._on_done)

    # -- consumer side -------------------------------------------------------------------
    def __aiter__(self) -> UpstreamCall:
        return self

    async def __anext__(self) -> dict[str, Any]:
        while not self._items:
            if self._finished:
                if self._error is not None:
                    raise self._error
                raise StopAsyncIteration
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        return self._items.popleft()

    @property
    def succeeded(self) -> bool:
        """The transfer ended normally and every event was read."""
        return self._finished and self._error is None and not self._items

    def take_ready(self) -> list[dict[str, Any]]:
        """Events that already arrived, without waiting (lets a fast upstream be relayed in one
        write instead of one per event)."""
        if not self._items:
            return []
        items = list(self._items)
        self._items.clear()
        return items

    def abort(self, reason: str = "cancelled by the gateway") -> None:
        """Stop the transfer now; iteration ends with :class:`UpstreamAborted`."""
        if not self._finished and self._abort_error is None:
            self._abort_error = UpstreamAborted(reason)
            self._http.abort(self.request, reason)

    # -- producer side (IOLoop callbacks) ------------------------------------------------
    def _prepare_curl(self, curl: pycurl.Curl) -> None:
        self._curl = curl
        no_header_trace(curl)
        # libcurl's upload buffer defaults to 64 KiB per transfer; request bodies are small, and
        # at 1000 open streams that is 48 MiB for nothing (README "Performance").
        curl.setopt(pycurl.UPLOAD_BUFFERSIZE, 16 * 1024)
        if self._proxy:
            curl.setopt(pycurl.PROXY, self._proxy)

    def _on_chunk(self, chunk: bytes) -> None:
        if self._finished or self._abort_error is not None:
            return
        self._watchdog.touch()
        if not self._status and self._curl is not None:
            # Tornado delivers header callbacks after body chunks, so ask libcurl directly; the
            # handle still belongs to this transfer whenever a chunk is delivered.
            self._status = self._curl.getinfo(pycurl.RESPONSE_CODE)
        if self._status != 200 or not self._sse:
            if len(self._body) < _ERROR_BODY_CAP or self._status == 200:
                self._body += chunk
            return
        if not self._decoder.seen_data and len(self._body) < _RAW_HEAD_CAP:
            self._body += chunk
        for payload in self._decoder.feed(chunk):
            self._on_payload(payload)

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
        self._items.append(unwrap(obj))
        self._wake()

    def _on_done(self, future: asyncio.Future[HTTPResponse]) -> None:
        self._watchdog.cancel()
        # raise_error=False still raises for 599 (no HTTP answer at all); always retrieve it.
        failure = future.exception()
        if self._finished:
            return
        if self._abort_error is not None:
            self._finish(self._abort_error)
            return
        if failure is not None:
            exc = failure
            errno = getattr(exc, "errno", None)
            message = str(exc)
            if errno == TIMED_OUT:
                self._finish(UpstreamTimeoutError("connection", self.request.connect_timeout or 0))
            elif errno == ABORTED:
                self._finish(UpstreamAborted(message))
            else:
                self._finish(UpstreamConnectionError(message))
            return
        response = future.result()
        status = response.code
        if status != 200:
            self._finish(UpstreamHTTPError(status, bytes(self._body), response.headers))
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
        if not self._finished and self._abort_error is None:
            self._abort_error = UpstreamTimeoutError(phase, seconds)
            self._http.abort(self.request, str(self._abort_error))

    def _fail(self, error: UpstreamProblem) -> None:
        """An error found in the body: stop the transfer and report it after queued items."""
        if self._abort_error is None:
            self._abort_error = error
            self._http.abort(self.request, str(error))
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


class AntigravityClient:
    """Builds v1internal calls on the shared transport."""

    def __init__(self, http: AbortableCurlClient) -> None:
        self.http = http

    def stream(
        self, base_url: str, token: str, envelope: dict[str, Any], settings: CallSettings
    ) -> UpstreamCall:
        return UpstreamCall(
            self.http,
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
        call = UpstreamCall(self.http, url, jsoncodec.dumps_bytes(body), token, settings, sse=False)
        try:
            return await anext(call)
        except BaseException:
            call.abort()  # cancelled (client gone): stop the transfer too
            raise
