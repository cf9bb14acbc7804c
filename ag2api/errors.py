"""Every failure the gateway reports, as one table of OpenAI-shaped errors.

Handlers raise a :class:`GatewayError` subclass; ``ApiHandler.write_error`` (or the SSE relay,
once a stream has started) renders :meth:`GatewayError.to_openai`. Upstream HTTP failures are
turned into gateway errors here too (:func:`from_upstream`), so no other module picks statuses.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ag2api.redact import mask_projects


@dataclass(frozen=True)
class ErrorKind:
    status: int
    type: str
    code: str | None
    # Sent as ``x-should-retry: false`` so the OpenAI SDKs do not triple a deterministic failure.
    client_should_retry: bool = True
    # The google.rpc status the Gemini dialect names; None: the one that goes with ``status``.
    google_status: str | None = None


CONTENT_REJECTED = "upstream_content_rejected"

# The one table: error name → HTTP status, OpenAI ``type`` and ``code``.
KINDS: dict[str, ErrorKind] = {
    "invalid_request": ErrorKind(400, "invalid_request_error", None, False),
    "invalid_json": ErrorKind(400, "invalid_request_error", "invalid_json", False),
    "upstream_rejected_request": ErrorKind(
        400, "invalid_request_error", "upstream_invalid_argument", False
    ),
    # The backend refused the request's system prompt with a 429 that is no rate limit: a 400,
    # since clients retry a 429 and the same prompt is refused every time.
    CONTENT_REJECTED: ErrorKind(
        400, "invalid_request_error", CONTENT_REJECTED, False, "FAILED_PRECONDITION"
    ),
    "invalid_api_key": ErrorKind(401, "invalid_request_error", "invalid_api_key", False),
    "key_expired": ErrorKind(401, "invalid_request_error", "invalid_api_key", False),
    "key_disabled": ErrorKind(401, "invalid_request_error", "invalid_api_key", False),
    "model_not_allowed": ErrorKind(403, "invalid_request_error", "model_not_allowed", False),
    "not_found": ErrorKind(404, "invalid_request_error", "not_found", False),
    # The admin console: a write without its session's CSRF token; a change the files refuse.
    "forbidden": ErrorKind(403, "invalid_request_error", "forbidden", False),
    "conflict": ErrorKind(409, "invalid_request_error", "conflict", False),
    "previous_response_not_found": ErrorKind(
        400, "invalid_request_error", "previous_response_not_found", False
    ),
    "model_not_found": ErrorKind(404, "invalid_request_error", "model_not_found", False),
    "method_not_allowed": ErrorKind(405, "invalid_request_error", "method_not_allowed", False),
    "request_too_large": ErrorKind(413, "invalid_request_error", "request_too_large", False),
    "rate_limit_exceeded": ErrorKind(429, "rate_limit_error", "rate_limit_exceeded"),
    # A client key over its own requests / tokens per minute or concurrency (key policies).
    "key_rate_limited": ErrorKind(429, "requests", "rate_limit_exceeded"),
    "key_tokens_limited": ErrorKind(429, "tokens", "rate_limit_exceeded"),
    # A client key over its daily or monthly token budget (not retried: it lasts until reset).
    "insufficient_quota": ErrorKind(429, "insufficient_quota", "insufficient_quota", False),
    "internal_error": ErrorKind(500, "server_error", "internal_error", False),
    "upstream_error": ErrorKind(502, "upstream_error", "upstream_error"),
    "upstream_account_error": ErrorKind(502, "upstream_error", "upstream_account_error", False),
    "no_available_account": ErrorKind(503, "server_error", "no_available_account"),
    # No account can serve at all (none configured, or every one disabled): waiting changes
    # nothing until the operator acts, so a status no client retries (clients retry 5xx, and
    # Claude Code 529, for minutes), with a message naming the fix — as Google answers 403 for
    # an API not enabled in a project.
    "no_usable_account": ErrorKind(403, "server_error", "no_usable_account", False),
    # The upstream has no capacity (its 503 UNAVAILABLE, e.g. MODEL_CAPACITY_EXHAUSTED, or a
    # 529) on every account tried: temporary, so a 503 with Retry-After in every dialect (529
    # overloaded_error for Anthropic's).
    "capacity_exhausted": ErrorKind(503, "server_error", "capacity_exhausted"),
    "server_busy": ErrorKind(503, "server_error", "server_busy"),
    "upstream_client_outdated": ErrorKind(502, "upstream_error", "upstream_client_outdated", False),
    "upstream_timeout": ErrorKind(504, "timeout_error", "upstream_timeout"),
}


class GatewayError(Exception):
    """A failure with its OpenAI rendering; ``kind`` names a row of :data:`KINDS`."""

    kind = "internal_error"

    def __init__(
        self,
        message: str,
        *,
        param: str | None = None,
        kind: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        if kind is not None:
            self.kind = kind
        self.retry_after = retry_after

    @property
    def spec(self) -> ErrorKind:
        return KINDS[self.kind]

    @property
    def status(self) -> int:
        return self.spec.status

    def to_openai(self) -> dict[str, Any]:
        spec = self.spec
        return {
            "error": {
                "message": self.message,
                "type": spec.type,
                "param": self.param,
                "code": spec.code,
            }
        }

    def headers(self) -> dict[str, str]:
        out: dict[str, str] = {}
        if self.retry_after is not None:
            out["Retry-After"] = str(max(1, int(self.retry_after + 0.999)))
        if not self.spec.client_should_retry:
            out["x-should-retry"] = "false"
        return out


class InvalidRequest(GatewayError):
    kind = "invalid_request"


class InvalidJson(GatewayError):
    kind = "invalid_json"


class AuthenticationError(GatewayError):
    kind = "invalid_api_key"


class NotFound(GatewayError):
    kind = "not_found"


class ModelNotFound(GatewayError):
    kind = "model_not_found"

    def __init__(self, model: str) -> None:
        super().__init__(
            f"The model `{model}` does not exist or you do not have access to it.", param="model"
        )


class PayloadTooLarge(GatewayError):
    kind = "request_too_large"


class NoAvailableAccount(GatewayError):
    kind = "no_available_account"


class NoUsableAccount(NoAvailableAccount):
    """Not one account is enabled: the operator must add or re-enable one."""

    kind = "no_usable_account"


class UpstreamTimeout(GatewayError):
    kind = "upstream_timeout"


class UpstreamFailure(GatewayError):
    kind = "upstream_error"


# Retry-After for an upstream without capacity that named no delay: a few seconds, since the
# gateway already went through its accounts, with backoff, before answering.
CAPACITY_RETRY_AFTER = 5.0

# Prefix of an upstream 400's message; the Anthropic dialect drops it so that Claude's own
# wording (which Claude Code's recovery matches) reaches the client unchanged.
UPSTREAM_REJECTED = "Upstream rejected the request: "


def from_upstream(
    status: int, message: str, *, google_status: str = "", retry_after: float | None = None
) -> GatewayError:
    """Map an upstream HTTP failure that no account or host could get past to a client error.

    Upstream 401/403 concern the gateway's Google accounts, never the client's own key, so they
    become 502 (``upstream_account_error``), not 401/403. Project ids in ``message`` are masked.
    """
    text = mask_projects(message) if message else f"upstream answered HTTP {status}"
    if status == 400:
        return GatewayError(UPSTREAM_REJECTED + text, kind="upstream_rejected_request")
    if status == 404 or google_status == "NOT_FOUND":
        return GatewayError(
            f"Upstream has no such model: {text}", param="model", kind="model_not_found"
        )
    if status in (401, 403):
        return GatewayError(
            f"Upstream refused the gateway's account (HTTP {status}): {text}",
            kind="upstream_account_error",
        )
    if status == 429:
        return GatewayError(
            f"All accounts are rate limited upstream: {text}",
            kind="rate_limit_exceeded",
            retry_after=retry_after if retry_after is not None else 1.0,
        )
    if status in (408, 504) or google_status == "DEADLINE_EXCEEDED":
        return UpstreamTimeout(f"Upstream timed out: {text}")
    if status in (503, 529):
        return GatewayError(
            f"Upstream has no capacity right now (HTTP {status}): {text}",
            kind="capacity_exhausted",
            retry_after=retry_after if retry_after is not None else CAPACITY_RETRY_AFTER,
        )
    return UpstreamFailure(f"Upstream error (HTTP {status}): {text}")
