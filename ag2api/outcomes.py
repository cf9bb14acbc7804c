"""What the client hears when the upstream failed: one place turning upstream problems into
gateway errors (statuses and types come from the table in ``errors``)."""

from __future__ import annotations

from ag2api.accounts.refresh import AccountRevoked, RefreshFailed
from ag2api.errors import (
    GatewayError,
    NoAvailableAccount,
    UpstreamFailure,
    UpstreamTimeout,
    from_upstream,
)
from ag2api.upstream.client import (
    UpstreamHTTPError,
    UpstreamProblem,
    UpstreamTimeoutError,
)


def final_error(failures: list[BaseException], cooling_for: float | None = None) -> GatewayError:
    """The error for a request whose every attempt failed (``cooling_for``: earliest recovery)."""
    limited = [f for f in failures if isinstance(f, UpstreamHTTPError) and f.status == 429]
    if limited:
        delays = [f.error.retry_delay for f in limited if f.error.retry_delay is not None]
        if cooling_for is not None:
            delays.append(cooling_for)
        last = limited[-1].error
        return from_upstream(
            429,
            last.message,
            google_status=last.status,
            retry_after=min(delays) if delays else None,
        )
    last = failures[-1]
    if isinstance(last, UpstreamHTTPError):
        return from_upstream(last.status, last.error.message, google_status=last.error.status)
    if isinstance(last, UpstreamTimeoutError):
        return UpstreamTimeout(f"Upstream timed out: {last}")
    if isinstance(last, AccountRevoked | RefreshFailed):
        return NoAvailableAccount(f"No account could be used: {last}")
    return UpstreamFailure(f"Upstream unreachable: {last}")


def error_for_problem(exc: UpstreamProblem) -> GatewayError:
    """The error a client sees for a failure after its stream started."""
    if isinstance(exc, UpstreamHTTPError):
        return from_upstream(exc.status, exc.error.message, google_status=exc.error.status)
    if isinstance(exc, UpstreamTimeoutError):
        return UpstreamTimeout(f"Upstream timed out: {exc}")
    return UpstreamFailure(f"Upstream stream failed: {exc}")
