"""Serving one client request upstream: pick an account, refresh, fail over before any byte.

The retry structure (tenacity drives both loops):

* **accounts** — up to ``retry.max_accounts`` different projects. A 429, a 5xx or a connection
  failure on every base URL, a dead refresh token, or a 401/403 that names the account moves on
  to the next project at once.
* **refresh** — on an upstream 401/403 the access token is refreshed and the call retried once.
* **base URLs** — tried in the configured order on 404, 5xx and connection errors.

Nothing is retried once a stream has delivered its first event: the caller holds that event and
no longer goes through here.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from tenacity import AsyncRetrying, retry_if_exception, retry_if_exception_type, stop_after_attempt

from ag2api.accounts.model import Account
from ag2api.accounts.pool import AccountPool
from ag2api.accounts.refresh import AccountRevoked, RefreshFailed, TokenRefresher
from ag2api.accounts.writer import TokenWriter
from ag2api.config.schema import GatewayConfig
from ag2api.errors import (
    GatewayError,
    NoAvailableAccount,
    UpstreamFailure,
    UpstreamTimeout,
    from_upstream,
)
from ag2api.redact import mask
from ag2api.upstream.client import (
    AntigravityClient,
    CallSettings,
    UpstreamCall,
    UpstreamConnectionError,
    UpstreamHTTPError,
    UpstreamProblem,
    UpstreamProtocolError,
    UpstreamTimeoutError,
)
from ag2api.upstream.envelope import wrap

log = logging.getLogger("ag2api.dispatch")
T = TypeVar("T")
Call = Callable[[str, str, Account], Awaitable[T]]


class _NextAccount(Exception):
    """This account cannot serve the request now; try another one."""

    def __init__(self, cause: BaseException) -> None:
        super().__init__(str(cause))
        self.cause = cause


def _needs_refresh(exc: BaseException) -> bool:
    return isinstance(exc, UpstreamHTTPError) and exc.status in (401, 403)


def settings_for(cfg: GatewayConfig) -> CallSettings:
    up = cfg.upstream
    return CallSettings(
        up.user_agent, up.proxy, up.timeouts.connect, up.timeouts.first_byte, up.timeouts.idle
    )


@dataclass
class OpenedStream:
    """A stream whose first event has arrived; the rest is read from ``call``."""

    account: Account
    first: dict[str, Any]
    call: UpstreamCall


class Dispatcher:
    def __init__(
        self,
        pool: AccountPool,
        refresher: TokenRefresher,
        client: AntigravityClient,
        writer: TokenWriter,
    ) -> None:
        self.pool = pool
        self.refresher = refresher
        self.client = client
        self.writer = writer

    async def open_stream(
        self, cfg: GatewayConfig, model: str, request: dict[str, Any], *, image: bool = False
    ) -> OpenedStream:
        settings = settings_for(cfg)

        async def call(base: str, token: str, account: Account) -> OpenedStream:
            upstream = self.client.stream(
                base, token, wrap(account.project_id, model, request, image=image), settings
            )
            try:
                first = await anext(upstream)
            except StopAsyncIteration:
                raise UpstreamProtocolError(
                    "upstream stream ended before its first event"
                ) from None
            except BaseException:
                upstream.abort()
                raise
            return OpenedStream(account, first, upstream)

        return await self.with_failover(cfg, call)

    async def generate(
        self, cfg: GatewayConfig, model: str, request: dict[str, Any], *, image: bool = False
    ) -> dict[str, Any]:
        settings = settings_for(cfg)

        async def call(base: str, token: str, account: Account) -> dict[str, Any]:
            return await self.client.generate(
                base, token, wrap(account.project_id, model, request, image=image), settings
            )

        return await self.with_failover(cfg, call)

    async def with_failover(
        self, cfg: GatewayConfig, call: Call[T], *, take_turn: bool = True
    ) -> T:
        """Run ``call(base_url, token, account)`` on accounts in rotation until one succeeds."""
        tried: set[str] = set()
        failures: list[BaseException] = []
        retrying = AsyncRetrying(
            stop=stop_after_attempt(cfg.retry.max_accounts),
            retry=retry_if_exception_type(_NextAccount),
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    account = self._next_account(tried, failures, take_turn)
                    tried.add(account.project_id)
                    try:
                        return await self._on_account(cfg, account, call)
                    except _NextAccount as exc:
                        failures.append(exc.cause)
                        log.warning(
                            "project %s failed, trying another: %s",
                            mask(account.project_id),
                            exc.cause,
                        )
                        raise
        except _NextAccount:
            raise _final_error(failures) from None
        raise AssertionError("unreachable")  # pragma: no cover

    def _next_account(
        self, tried: set[str], failures: list[BaseException], take_turn: bool
    ) -> Account:
        if take_turn:
            try:
                account = self.pool.acquire(exclude=tried)
            except NoAvailableAccount:
                if failures:
                    raise _final_error(failures) from None
                raise
            self.writer.record(account.project_id, last_used_at=int(account.last_used_at or 0))
            return account
        account = self.pool.peek(exclude=tried)
        if account is None:
            if failures:
                raise _final_error(failures)
            raise NoAvailableAccount("No enabled Google account is available.")
        return account

    async def _on_account(self, cfg: GatewayConfig, account: Account, call: Call[T]) -> T:
        try:
            token = await self.refresher.access_token(account)
            retrying = AsyncRetrying(
                stop=stop_after_attempt(2), retry=retry_if_exception(_needs_refresh), reraise=True
            )
            async for attempt in retrying:
                with attempt:
                    if attempt.retry_state.attempt_number > 1:
                        token = await self.refresher.refresh(account, stale=token)
                    return await self._over_base_urls(cfg, token, account, call)
        except AccountRevoked as exc:
            self._disable(account, exc.reason)
            raise _NextAccount(exc) from None
        except RefreshFailed as exc:
            raise _NextAccount(exc) from None
        except UpstreamHTTPError as exc:
            self._judge(account, exc)
            raise _NextAccount(exc) from None
        except (UpstreamConnectionError, UpstreamProtocolError) as exc:
            raise _NextAccount(exc) from None
        except UpstreamTimeoutError as exc:
            if exc.phase == "connection":
                raise _NextAccount(exc) from None
            # A model too slow for one account is as slow for the next: report it.
            raise UpstreamTimeout(f"Upstream timed out: {exc}") from None
        raise AssertionError("unreachable")  # pragma: no cover

    def _judge(self, account: Account, exc: UpstreamHTTPError) -> None:
        """Return if another account may help; raise the client's error if none would."""
        err = exc.error
        if exc.status == 401:
            self._disable(account, f"upstream 401 after a token refresh: {err.message[:200]}")
            return
        if exc.status == 403:
            cause = err.account_cause()
            if cause is None:
                raise from_upstream(403, err.message, google_status=err.status) from None
            self._disable(account, cause)
            return
        if exc.status == 429 or exc.status >= 500:
            return
        raise from_upstream(exc.status, err.message, google_status=err.status) from None

    async def _over_base_urls(
        self, cfg: GatewayConfig, token: str, account: Account, call: Call[T]
    ) -> T:
        last: UpstreamProblem | None = None
        for base in cfg.upstream.base_urls:
            try:
                return await call(base, token, account)
            except UpstreamHTTPError as exc:
                if exc.status != 404 and exc.status < 500:
                    raise
                last = exc
            except UpstreamConnectionError as exc:
                last = exc
            except UpstreamTimeoutError as exc:
                if exc.phase != "connection":
                    raise
                last = exc
            log.info("base URL %s failed (%s), trying the next one", base, last)
        assert last is not None
        if isinstance(last, UpstreamHTTPError) and last.status == 404:
            raise from_upstream(404, last.error.message, google_status=last.error.status)
        raise last

    def _disable(self, account: Account, reason: str) -> None:
        if self.pool.disable(account, reason):
            self.writer.record(account.project_id, enabled=False, disabled_reason=reason)


def _final_error(failures: list[BaseException]) -> GatewayError:
    """What the client hears when every account it could try failed."""
    limited = [f for f in failures if isinstance(f, UpstreamHTTPError) and f.status == 429]
    if limited:
        delays = [f.error.retry_delay for f in limited if f.error.retry_delay is not None]
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
