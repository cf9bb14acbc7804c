"""The base of every API handler: services access, auth, request id, CORS, OpenAI error bodies."""

from __future__ import annotations

import logging
from typing import Any

from tornado.web import HTTPError, RequestHandler, stream_request_body

from ag2api import jsoncodec
from ag2api.config.schema import ApiKey, GatewayConfig
from ag2api.errors import (
    AuthenticationError,
    GatewayError,
    InvalidJson,
    InvalidRequest,
    NotFound,
    PayloadTooLarge,
)
from ag2api.ids import random_hex
from ag2api.keys.auth import find_key, presented_key, take_query_key
from ag2api.keys.policies import check_key, check_model, periods, rate_headers
from ag2api.observe.trace import RequestTrace
from ag2api.services import Services

log = logging.getLogger("ag2api.http")

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
    cfg: GatewayConfig
    client_key: ApiKey | None = None
    trace: RequestTrace | None = None
    # The key's x-ratelimit-* headers, on every answer (set again after clear() for errors).
    rate_headers: dict[str, str] | None = None
    _body: list[bytes] | None = None

    @property
    def services(self) -> Services:
        return self.settings["services"]

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
                self.set_header("Access-Control-Expose-Headers", "x-request-id, Retry-After")

    def prepare(self) -> None:
        self.services.open_requests.enter(self)
        self.trace = RequestTrace(self.request_id, self.request.method or "-", self.request.path)
        self.cfg = self.services.config.current
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
        keys = self.cfg.api_keys
        if not keys:
            return  # no keys configured: allowed only on loopback (checked at start and reload)
        key = find_key(keys, presented_key(self.request.headers, query_key))
        if key is None:
            raise AuthenticationError(
                "Incorrect or missing API key. Send it as 'Authorization: Bearer <key>' (or "
                "'x-api-key' / 'x-goog-api-key')."
            )
        self.client_key = key
        assert self.trace is not None
        self.trace.key_label = key.label
        try:
            check_key(self.cfg.policy_of(key), key.label)
        except GatewayError as exc:
            self.services.metrics.key_rejections.labels(key.label, exc.kind[4:]).inc()
            raise

    def allow_model(self, model: str, asked: str | None = None) -> None:
        """403 when the key's policy does not allow the model (resolved, or as asked)."""
        key = self.client_key
        if key is None:
            return
        try:
            check_model(self.cfg.policy_of(key), key.label, model, *([asked] if asked else []))
        except GatewayError:
            self.services.metrics.key_rejections.labels(key.label, "model").inc()
            raise

    async def add_limit_headers(self) -> None:
        """The key's ``x-ratelimit-*`` headers on an answer that counts nothing (model lists,
        token counts): its current use, read from the state backend."""
        key = self.client_key
        if key is None:
            return
        policy = self.cfg.policy_of(key)
        if policy.rpm is None and policy.tpm is None:
            return
        use = await self.services.state.key_use(key.ident, *periods(), policy.tpm)
        self.rate_headers = rate_headers(policy, use.admission())
        for name, value in self.rate_headers.items():
            self.set_header(name, value)

    async def listed_models(self) -> list[Any]:
        """The catalog's model list, less the models the key's policy does not allow."""
        entries = await self.services.catalog.listed(self.cfg)
        await self.add_limit_headers()
        policy = self.cfg.policy_of(self.client_key)
        if policy.models is None:
            return list(entries)
        return [e for e in entries if policy.allows(e.id)]

    def admit_body(self) -> None:
        """405 for a method this route lacks and 413 for a declared body over ``max_body``, both
        before the body is read; a longer chunked body makes Tornado drop the connection."""
        method = (self.request.method or "").lower()
        if method in _BODY_METHODS and getattr(type(self), method) is getattr(
            RequestHandler, method
        ):
            raise HTTPError(405)
        declared = self.request.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > self.max_body:
            raise PayloadTooLarge(
                f"The request body is larger than this endpoint's limit of {self.max_body} bytes."
            )
        self.request.connection.set_max_body_size(self.max_body)  # type: ignore[union-attr]
        self._body = []
        # Runs before the HTTP method (callbacks run in the order they were added), so handlers
        # read request.body and body arguments as in Tornado's non-streaming mode.
        self.request._body_future.add_done_callback(self._body_complete)

    def data_received(self, chunk: bytes) -> None:
        if self._body is not None:
            self._body.append(chunk)

    def _body_complete(self, future: Any) -> None:
        if self._body is None or future.cancelled() or future.exception() is not None:
            return
        self.request.body = b"".join(self._body)
        self._body = None
        try:
            self.request._parse_body()
        except Exception as exc:  # a malformed form: the handler sees no body arguments
            log.info("%s %s: unparsable form body: %s", self.request.method, self.request.path, exc)

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


class NotFoundHandler(ApiHandler):
    """Any unknown path: an OpenAI-shaped 404 instead of Tornado's HTML page."""

    auth_required = False

    def authorize(self) -> None:
        raise NotFound(f"Unknown path {self.request.path}")
