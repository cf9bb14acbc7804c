"""The retry policies (tenacity) for serving a request upstream, and what they act on."""

from __future__ import annotations

from collections.abc import Callable

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    retry_if_exception_type,
    stop_after_attempt,
)
from tenacity.stop import stop_base

from ag2api.accounts.refresh import AccountRevoked, RefreshFailed
from ag2api.config.schema import RetryConfig
from ag2api.failover.clock import Clock
from ag2api.failover.rejections import ContentRejected
from ag2api.upstream.client import UpstreamHTTPError, UpstreamTimeoutError


class RetryableFailure(Exception):
    """This attempt failed in a way another attempt may fix."""

    def __init__(self, cause: BaseException, delay: float = 0.0) -> None:
        super().__init__(str(cause))
        self.cause = cause
        self.delay = delay


def needs_refresh(exc: BaseException) -> bool:
    return isinstance(exc, UpstreamHTTPError) and exc.status in (401, 403)


def attempts_policy(r: RetryConfig, started: float, clock: Clock) -> AsyncRetrying:
    """At most ``r.attempts`` attempts within ``r.total_seconds`` of ``started`` (a
    ``clock.monotonic()``), sleeping on ``clock`` what each failure asks for but never past the
    budget."""
    return AsyncRetrying(
        stop=stop_after_attempt(r.attempts)
        | _stop_after(r.total_seconds, started, clock)
        | _stop_if_wait_exceeds(r.total_seconds, started, clock),
        retry=retry_if_exception_type(RetryableFailure),
        wait=_wait_within(r.total_seconds, started, clock),
        sleep=clock.sleep,
        reraise=True,
    )


def refresh_policy() -> AsyncRetrying:
    """One retry, after a token refresh, when the upstream answers 401/403."""
    return AsyncRetrying(
        stop=stop_after_attempt(2), retry=retry_if_exception(needs_refresh), reraise=True
    )


def _asked_delay(state: RetryCallState) -> float:
    exc = state.outcome.exception() if state.outcome else None
    return exc.delay if isinstance(exc, RetryableFailure) else 0.0


class _stop_after(stop_base):
    """Stop once the request's time budget is spent (counted from its first attempt)."""

    def __init__(self, total: float, started: float, clock: Clock) -> None:
        self.total, self.started, self.clock = total, started, clock

    def __call__(self, retry_state: RetryCallState) -> bool:
        return self.clock.monotonic() - self.started >= self.total


class _stop_if_wait_exceeds(stop_base):
    """Stop now rather than sleep past the request's time budget."""

    def __init__(self, total: float, started: float, clock: Clock) -> None:
        self.total, self.started, self.clock = total, started, clock

    def __call__(self, retry_state: RetryCallState) -> bool:
        return _asked_delay(retry_state) > self.total - (self.clock.monotonic() - self.started)


def _wait_within(total: float, started: float, clock: Clock) -> Callable[[RetryCallState], float]:
    """Sleep what the failed attempt asked for (the stop rule keeps it inside the budget)."""

    def wait(state: RetryCallState) -> float:
        return max(0.0, min(_asked_delay(state), total - (clock.monotonic() - started)))

    return wait


def retry_reason(cause: BaseException) -> str:
    """A bounded label for why an attempt failed (metrics)."""
    if isinstance(cause, ContentRejected):
        return "content"
    if isinstance(cause, UpstreamHTTPError):
        return "429" if cause.status == 429 else "5xx" if cause.status >= 500 else "auth"
    if isinstance(cause, UpstreamTimeoutError):
        return "timeout"
    if isinstance(cause, AccountRevoked | RefreshFailed):
        return "token"
    return "connection"
