"""One attempt on one account, the dispatcher's two inner loops: on an upstream 401/403 the access
token is refreshed and the call retried once (tenacity), and the base URLs are tried in the
configured order on 404, 5xx and connection failures. A failure comes out judged by
:class:`~ag2api.failover.verdicts.Verdicts` for the attempts loop."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import TypeVar

from ag2api.accounts.model import Account
from ag2api.accounts.refresh import AccountRevoked, RefreshFailed, TokenRefresher
from ag2api.config.schema import GatewayConfig
from ag2api.errors import from_upstream
from ag2api.failover.retry import RetryableFailure, needs_refresh, retry_refresh
from ag2api.failover.verdicts import Attempts, Verdicts
from ag2api.redact import mask_projects
from ag2api.upstream.client import (
    UpstreamConnectionError,
    UpstreamHTTPError,
    UpstreamProblem,
    UpstreamProtocolError,
    UpstreamTimeoutError,
)

log = logging.getLogger("ag2api.dispatch")
T = TypeVar("T")
# An upstream call: (base URL, access token, account) → its result.
Call = Callable[[str, str, Account], Awaitable[T]]


class AccountAttempt:
    """Runs an upstream call on one given account."""

    def __init__(self, refresher: TokenRefresher, verdicts: Verdicts) -> None:
        self.refresher = refresher
        self.verdicts = verdicts

    async def run(
        self, cfg: GatewayConfig, account: Account, call: Call[T], attempts: Attempts
    ) -> T:
        """``call`` on ``account``; a failure is raised as the verdict's ``RetryableFailure`` or
        error (what it meant for the account is already recorded in ``attempts``)."""
        try:
            token = await self.refresher.access_token(account)
            try:
                return await self.over_base_urls(cfg, token, account, call)
            except UpstreamHTTPError as exc:
                if not needs_refresh(exc):
                    raise
                first: UpstreamHTTPError | None = exc
            # A 401/403: tenacity refreshes the token and retries once (attempt 1 is the above).
            async for attempt in retry_refresh():
                with attempt:
                    if first is not None:
                        failed, first = first, None
                        raise failed
                    token = await self.refresher.refresh(account, stale=token)
                    return await self.over_base_urls(cfg, token, account, call)
        except AccountRevoked as exc:
            self.verdicts.disable(account, exc.reason, attempts)
            raise RetryableFailure(exc) from None
        except RefreshFailed as exc:
            raise self.verdicts.transient(cfg, account, exc, attempts) from None
        except UpstreamHTTPError as exc:
            # Google may name the project in its message; clients and logs see it masked.
            exc.error = replace(
                exc.error, message=mask_projects(exc.error.message, (account.project_id,))
            )
            raise self.verdicts.judge(cfg, account, exc, attempts) from None
        except (UpstreamConnectionError, UpstreamProtocolError, UpstreamTimeoutError) as exc:
            raise self.verdicts.transient(cfg, account, exc, attempts) from None
        raise AssertionError("unreachable")  # pragma: no cover

    async def over_base_urls(
        self, cfg: GatewayConfig, token: str, account: Account, call: Call[T]
    ) -> T:
        """``call`` with ``token`` at each base URL in turn, until one answers."""
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
            if base != cfg.upstream.base_urls[-1]:
                log.info("base URL %s failed (%s), trying the next one", base, last)
        assert last is not None
        if isinstance(last, UpstreamHTTPError) and last.status == 404:
            raise from_upstream(404, last.error.message, google_status=last.error.status)
        raise last
