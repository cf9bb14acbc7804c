"""The base of every handler: services access, auth, request id, CORS, body limits, error bodies
(OpenAI's by default, the route's dialect's on client routes)."""

from __future__ import annotations

import logging
import weakref
from collections.abc import Callable
from typing import Any, TypeVar

from tornado.web import HTTPError, RequestHandler, stream_request_body

from ag2api import jsoncodec
from ag2api.config.schema import ApiKey, GatewayConfig
from ag2api.errors import GatewayError, InvalidJson, InvalidRequest, PayloadTooLarge
from ag2api.ids import random_hex
from ag2api.keys.admission import KeyAdmission
from ag2api.keys.auth import presented_key, take_query_key
from ag2api.observe.trace import RequestTrace
from ag2api.services import Services
from ag2api.translate import Dialect

log = logging.getLogger("ag2api.http")
A = TypeVar("A")

# Bodies over a route's limit are read and dropped up to this size (see ApiHandler.large_bodies).
DISCARD_CAP = 1024 * 1024 * 1024
_TORNADO_KINDS = {404: "not_found", 405: "method_not_allowed", 413: "request_too_large"}
_BODY_METHODS = ("post", "put", "patch", "delete")


@stream_request_body
class ApiHandler(RequestHandler):
    """Every route streams its body, so auth, 404, 405 and 413 are decided from the headers in
    prepare() before a body byte is read; the body is then buffered up to ``max_body`` and set
    as ``request.body`` (form arguments parsed) before the HTTP method runs."""

    auth_required = True
    # The Gemini API's routes also take the key as ``?key=`` (removed from the request once read).
    key_in_query = False
    # Largest body this route takes; a larger declared one gets 413 before it is read.
    max_body = 1024 * 1024
    # Generation and token counts take up to ``server.max_body_bytes`` instead; a larger declared
    # body (up to DISCARD_CAP) is read and dropped, so the client reads its 413 (refusing
    # mid-upload would reset the connection before the client reads the answer).
    large_bodies = False
    cfg: GatewayConfig
    client_key: ApiKey | None = None
    key_admission: KeyAdmission
    trace: RequestTrace | None = None
    # The key's x-ratelimit-* headers, on every answer (set again after clear() for errors).
    rate_headers: dict[str, str] | None = None
    _body: list[bytes] | None = None
    _size = 0
    _limit = 0

    @property
    def services(self) -> Services:
        return self.application.settings["services"]

    def set_default_headers(self) -> None:
        # clear() (before write_error) calls this again: keep the same id, re-add CORS.
        if not hasattr(self, "request_id"):
            self.request_id = f"req_{random_hex()}"
        self.set_header("x-request-id", self.request_id)
        self.set_header("Server", "ag2api")
        for name, value in (self.rate_headers or {}).items():
            self.set_header(name, value)
        origin = self.request.headers.get("Origin")
        if origin:
            allowed = self.services.config.current.server.cors_origins
            if origin in allowed or "*" in allowed:
                self.set_header("Access-Control-Allow-Origin", origin)
                self.set_header("Vary", "Origin")
                self.set_header(
                    "Access-Control-Expose-Headers",
                    "x-request-id, Retry-After, x-ag2api-served-model",
                )

    def prepare(self) -> None:
        self.services.open_requests.enter(self)
        self.trace = trace = RequestTrace(
            self.request_id, self.request.method or "-", self.request.path
        )
        self.cfg = self.services.config.current
        metrics = self.services.metrics
        self.key_admission = KeyAdmission(
            self.cfg,
            self.services.state,
            refused=lambda label, why: metrics.key_rejections.labels(label, why).inc(),
            show=weakly(self.show_rate_headers),
            spent=lambda: trace.prompt_tokens + trace.completion_tokens,
        )
        try:
            if self.request.method != "OPTIONS":
                self.authorize()
            self.admit_body()
        except Exception:
            # Refused from the headers: the body is never used, and Tornado closes the connection
            # once the answer is out. No size limit may fire meanwhile (it would add a bare 400).
            self.request.connection.set_max_body_size(1 << 62)  # type: ignore[union-attr]
            raise

    def authorize(self) -> None:
        query_key = take_query_key(self.request) if self.key_in_query else None
        if not self.auth_required:
            return
        self.key_admission.authenticate(presented_key(self.request.headers, query_key))
        self.client_key = key = self.key_admission.key
        if key is not None and self.trace is not None:
            self.trace.key_label = key.label

    def show_rate_headers(self, headers: dict[str, str]) -> None:
        """The key's ``x-ratelimit-*`` headers, on this answer whatever it is (set again after
        ``clear()`` for an error)."""
        self.rate_headers = headers
        for name, value in headers.items():
            self.set_header(name, value)

    async def listed_models(self) -> list[Any]:
        """The catalog's model list, less what the key may not use (an alias by what serves it)."""
        entries = await self.services.catalog.listed(self.cfg)
        await self.key_admission.report_use()
        if self.key_admission.policy.models is None:
            return list(entries)
        return [e for e in entries if self.key_admission.allows(e.serves)]

    def admit_body(self) -> None:
        """405 for a method this route lacks and 413 for a declared body over the route's limit,
        both before the body is read. A chunked body says its size only by being sent: past the
        limit it is read and dropped (up to DISCARD_CAP), and the route's 413 answers it."""
        method = (self.request.method or "").lower()
        if method in _BODY_METHODS and getattr(type(self), method) is getattr(
            RequestHandler, method
        ):
            raise HTTPError(405)
        self._limit = self.cfg.server.max_body_bytes if self.large_bodies else self.max_body
        declared = self.request.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > (
            max(self._limit, DISCARD_CAP) if self.large_bodies else self._limit
        ):
            raise PayloadTooLarge(self.too_large_message())
        self.request.connection.set_max_body_size(max(self._limit, DISCARD_CAP))  # type: ignore[union-attr]
        self._body = []
        # Runs before the HTTP method (callbacks run in the order they were added), so handlers
        # read request.body and body arguments as in Tornado's non-streaming mode.
        self.request._body_future.add_done_callback(self._body_complete)

    def too_large_message(self) -> str:
        return f"The request body is larger than this endpoint's limit of {self._limit} bytes."

    def data_received(self, chunk: bytes) -> None:
        if self._body is None:
            return
        self._size += len(chunk)
        if self._size <= self._limit:
            self._body.append(chunk)
        elif self._body:
            self._body = []  # over the limit: the rest is read and dropped

    def _body_complete(self, future: Any) -> None:
        if self._body is None or future.cancelled() or future.exception() is not None:
            return
        if self._size > self._limit:
            # The HTTP method never runs: the route's 413 (in its dialect) answers instead.
            setattr(self, (self.request.method or "post").lower(), self._refuse_too_large)
            self._body = None
            return
        self.request.body = b"".join(self._body)
        self._body = None
        try:
            self.request._parse_body()
        except Exception as exc:  # a malformed form: the handler sees no body arguments
            log.info("%s %s: unparsable form body: %s", self.request.method, self.request.path, exc)

    def _refuse_too_large(self, *args: Any) -> None:
        raise PayloadTooLarge(self.too_large_message())

    def on_finish(self) -> None:
        self.services.open_requests.leave(self)

    def on_connection_close(self) -> None:
        self.services.open_requests.leave(self)

    def abort_for_shutdown(self) -> None:
        """The shutdown grace is over: end this request now (streams end with an error event)."""

    def options(self, *args: Any) -> None:
        """CORS preflight: allowed origins get the headers, others get none."""
        if self._headers.get("Access-Control-Allow-Origin"):
            self.set_header("Access-Control-Allow-Methods", "GET, POST, DELETE, OPTIONS")
            self.set_header(
                "Access-Control-Allow-Headers",
                self.request.headers.get(
                    "Access-Control-Request-Headers", "Authorization, Content-Type, x-api-key"
                ),
            )
            self.set_header("Access-Control-Max-Age", "600")
        self.set_status(204)
        self.finish()

    def parse_json_body(self, raw: bytes) -> dict[str, Any]:
        if not raw.strip():
            raise InvalidJson("The request body is empty; send a JSON object.")
        try:
            body = jsoncodec.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            raise InvalidJson(f"The request body is not valid JSON: {exc}") from None
        if not isinstance(body, dict):
            raise InvalidRequest("The request body must be a JSON object.")
        return body

    def write_json(self, value: Any, status: int = 200) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.finish(jsoncodec.dumps_bytes(value))

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc = kwargs.get("exc_info", (None, None, None))[1]
        if not isinstance(exc, GatewayError):
            if isinstance(exc, HTTPError) and exc.status_code in _TORNADO_KINDS:
                exc = GatewayError(
                    exc.log_message or self._reason, kind=_TORNADO_KINDS[exc.status_code]
                )
            elif isinstance(exc, HTTPError) and exc.status_code < 500:
                exc = InvalidRequest(exc.log_message or self._reason)
            else:
                exc = GatewayError("The gateway failed to handle this request.")
        trace = getattr(self, "trace", None)
        if trace is not None:
            trace.error_type = exc.kind
        status, body = self.render_error(exc)
        self.set_status(status)
        for name, value in exc.headers().items():
            self.set_header(name, value)
        self.set_header("Content-Type", "application/json")
        self.finish(jsoncodec.dumps_bytes(body))

    def render_error(self, exc: GatewayError) -> tuple[int, dict[str, Any]]:
        """The status and JSON body of an error answer, in this route's client dialect."""
        return exc.status, exc.to_openai()

    def log_exception(self, typ: Any, value: Any, tb: Any) -> None:
        if isinstance(value, GatewayError):
            log.info(
                "%s %s → %d %s: %s",
                self.request.method,
                self.request.path,
                self.render_error(value)[0],  # the status this dialect sends (Anthropic: 529)
                value.kind,
                value.message,
            )
        else:
            super().log_exception(typ, value, tb)


class DialectHandler(ApiHandler):
    """A client route of one dialect (its entry in ``translate.DIALECTS``): errors in its shape,
    and the API key also as ``?key=`` where it takes one."""

    dialect: Dialect | None = None  # None: OpenAI's error shape

    def initialize(self, dialect: Dialect | None = None) -> None:
        self.dialect = dialect
        self.key_in_query = dialect is not None and dialect.key_in_query

    def render_error(self, exc: GatewayError) -> tuple[int, dict[str, Any]]:
        if self.dialect is None:
            return super().render_error(exc)
        return self.dialect.errors.status(exc), self.dialect.errors.body(exc)


def weakly(method: Callable[[A], None]) -> Callable[[A], None]:
    """``method`` without keeping its object alive: what the handler holds calls back into the
    handler, and a strong reference would be a cycle that keeps a finished request (its body,
    its images) until the rarely-run cycle collector."""
    ref = weakref.WeakMethod(method)

    def call(arg: A) -> None:
        if (bound := ref()) is not None:
            bound(arg)

    return call
