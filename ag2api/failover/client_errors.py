"""What the client hears when the upstream failed: one place turning upstream problems into
gateway errors (statuses and types come from the table in ``errors``). No message built here
shows a project id: Google's are masked as they are parsed, the others through :func:`_said`."""

from __future__ import annotations

from ag2api.accounts.refresh import AccountRevoked, RefreshFailed
from ag2api.errors import (
    CONTENT_REJECTED,
    GatewayError,
    NoAvailableAccount,
    UpstreamFailure,
    UpstreamTimeout,
    from_upstream,
)
from ag2api.failover.rejections import ContentRejected
from ag2api.redact import mask_projects
from ag2api.upstream.client import (
    UpstreamHTTPError,
    UpstreamProblem,
    UpstreamTimeoutError,
)


def client_error_after_retries(
    failures: list[BaseException], cooling_for: float | None = None
) -> GatewayError:
    """The error for a request whose every attempt failed (``cooling_for``: earliest recovery)."""
    rejected = [f for f in failures if isinstance(f, ContentRejected)]
    if rejected:
        return content_rejected(rejected[-1].model)
    limited = [f for f in failures if isinstance(f, UpstreamHTTPError) and f.status == 429]
    if limited:
        delays = [f.error.retry_delay for f in limited if f.error.retry_delay is not None]
        if cooling_for is not None:
            delays.append(cooling_for)
        error = limited[-1].error
        return from_upstream(
            429,
            error.message,
            google_status=error.status,
            retry_after=min(delays) if delays else None,
        )
    last = failures[-1]
    if isinstance(last, UpstreamHTTPError):
        error = last.error
        return from_upstream(
            last.status, error.message, google_status=error.status, retry_after=error.retry_delay
        )
    if isinstance(last, UpstreamTimeoutError):
        return UpstreamTimeout(f"Upstream timed out: {_said(last)}")
    if isinstance(last, AccountRevoked | RefreshFailed):
        return NoAvailableAccount(f"No account could be used: {_said(last)}")
    return UpstreamFailure(f"Upstream unreachable: {_said(last)}")


def content_rejected(model: str) -> GatewayError:
    """The backend refused the request's system prompt (a masked content rejection)."""
    return GatewayError(
        f"The upstream refused this request's system prompt: Google answered {model} with "
        "'429 Resource has been exhausted' and no quota details, on every account tried. That "
        "is how it rejects some system instructions; it is not a rate limit, and the same "
        "prompt is refused again. Remove or reword the phrase that triggers it, or have the "
        "gateway's operator add it to upstream.sensitive_words.",
        kind=CONTENT_REJECTED,
    )


def client_error_mid_stream(exc: UpstreamProblem) -> GatewayError:
    """The error a client sees for a failure after its stream started."""
    if isinstance(exc, UpstreamHTTPError):
        error = exc.error
        return from_upstream(
            exc.status, error.message, google_status=error.status, retry_after=error.retry_delay
        )
    if isinstance(exc, UpstreamTimeoutError):
        return UpstreamTimeout(f"Upstream timed out: {_said(exc)}")
    return UpstreamFailure(f"Upstream stream failed: {_said(exc)}")


def _said(exc: BaseException) -> str:
    return mask_projects(str(exc))
