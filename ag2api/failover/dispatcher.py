"""Serving one client request upstream: pick an account, refresh, fail over before any byte.

The loops, outermost first (tenacity drives the first two):

* **attempts** — here: at most ``retry.attempts`` upstream attempts within
  ``retry.total_seconds``, each on the account :mod:`ag2api.failover.picking` grants; what each
  failure means for its account and whether to back off is :mod:`ag2api.failover.verdicts`.
* **refresh** — on an upstream 401/403 the access token is refreshed and the call retried once.
* **base URLs** — tried in the configured order on 404, 5xx and connection failures.

The last two run one attempt on one account (:mod:`ag2api.failover.attempt`).

Nothing is retried once the client has seen a byte: the caller passes ``committed``, and a stream
is handed over as soon as its first event arrives.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from ag2api.accounts.model import Account
from ag2api.accounts.pool import AccountPool
from ag2api.accounts.proxies import routed
from ag2api.accounts.refresh import AccountRevoked, RefreshFailed, TokenRefresher
from ag2api.accounts.slots import SlotLimiter
from ag2api.accounts.writer import TokenWriter
from ag2api.config.schema import GatewayConfig
from ag2api.errors import NoAvailableAccount
from ag2api.failover.attempt import AccountAttempt, Call
from ag2api.failover.client_errors import client_error_after_retries
from ag2api.failover.clock import Clock, SystemClock
from ag2api.failover.notices import UpstreamNotices
from ag2api.failover.picking import Picker
from ag2api.failover.retry import RetryableFailure, retry_attempts, retry_reason
from ag2api.failover.served import OpenedStream, Served, has_content
from ag2api.failover.verdicts import Attempts, Verdicts
from ag2api.observe.trace import RequestTrace
from ag2api.redact import mask
from ag2api.state.base import AccountState, Grant
from ag2api.translate.conversation import Conversation
from ag2api.upstream.client import (
    AntigravityClient,
    CallSettings,
    UpstreamHTTPError,
    UpstreamProblem,
    UpstreamProtocolError,
    UpstreamTransfer,
)
from ag2api.upstream.envelope import wrap
from ag2api.upstream.google_error import version_notice_in

log = logging.getLogger("ag2api.dispatch")
T = TypeVar("T")


def settings_for(cfg: GatewayConfig) -> CallSettings:
    up = cfg.upstream
    return CallSettings(
        up.user_agent,
        up.proxy,
        up.timeouts.connect,
        up.timeouts.first_byte,
        up.timeouts.idle,
        str(up.ca_file) if up.ca_file else None,
        "gzip" if up.gzip else "identity",
    )


class Dispatcher:
    def __init__(
        self,
        state: AccountState,
        refresher: TokenRefresher,
        client: AntigravityClient,
        writer: TokenWriter,
        clock: Clock | None = None,
    ) -> None:
        self.state = state
        self.refresher = refresher
        self.client = client
        self.writer = writer
        # Retry budgets, backoffs and short rate-limit waits read and sleep on this.
        self.clock: Clock = clock or SystemClock()
        self.notices = UpstreamNotices()
        self.verdicts = Verdicts(state, writer, self.notices)
        # Refresh-and-retry and the base URLs, on the account an attempt was given.
        self.on_account = AccountAttempt(refresher, self.verdicts)
        # Where each attempt goes, and the grants given back.
        self.picker = Picker(state, self.verdicts, writer, self.clock)

    @property
    def pool(self) -> AccountPool:
        return self.state.pool

    @property
    def slots(self) -> SlotLimiter:
        return self.state.slots

    @asynccontextmanager
    async def stream(
        self,
        cfg: GatewayConfig,
        model: str,
        request: dict[str, Any],
        *,
        image: bool = False,
        committed: Callable[[], bool] = lambda: False,
        started: Callable[[str], None] = lambda model: None,
        trace: RequestTrace | None = None,
        fallbacks: tuple[str, ...] = (),
        translate: Callable[[str], dict[str, Any]] | None = None,
        conversation: Conversation | None = None,
    ) -> AsyncIterator[OpenedStream]:
        """The upstream stream for one client request, failed over until its first content.

        ``started(model)`` is called when an upstream call begins (a slot is held): only from
        then may the caller's keepalive commit the response headers. ``fallbacks`` may serve,
        in order, when no account can serve ``model`` (``translate`` makes their requests);
        ``conversation`` keeps the request on its conversation's account. Leaving the block,
        however it is left, aborts a transfer that is still running and gives the account back
        (as a success only when the upstream stream ended normally).
        """
        settings = settings_for(cfg)
        served = Served(model, request, translate)

        async def call(
            base: str, token: str, account: Account
        ) -> tuple[list[dict[str, Any]], UpstreamTransfer]:
            started(served.model)
            envelope = wrap(
                account.project_id,
                served.model,
                served.request_for(cfg, served.model),
                image=image,
                credits=served.credits,
            )
            upstream = self.client.stream(base, token, envelope, routed(settings, account))
            pending: list[dict[str, Any]] = []
            try:
                while True:
                    event = await anext(upstream)
                    if (notice := version_notice_in(event)) is not None:
                        raise UpstreamHTTPError.notice(notice)
                    pending.append(event)
                    if has_content(event):
                        return pending, upstream
            except StopAsyncIteration:
                what = "any event" if not pending else "any content"
                raise UpstreamProtocolError(f"upstream stream ended without {what}") from None
            except BaseException:
                upstream.abort()
                raise

        (pending, upstream), grant = await self.call_with_failover(
            cfg, served, call, committed, trace, fallbacks, conversation
        )
        try:
            yield OpenedStream(grant, pending, upstream)
        finally:
            ok = upstream.succeeded
            if not ok:
                upstream.abort("the client request ended")
            self.picker.release(grant, ok=ok)

    async def generate(
        self,
        cfg: GatewayConfig,
        model: str,
        request: dict[str, Any],
        *,
        image: bool = False,
        trace: RequestTrace | None = None,
        fallbacks: tuple[str, ...] = (),
        translate: Callable[[str], dict[str, Any]] | None = None,
        conversation: Conversation | None = None,
    ) -> dict[str, Any]:
        """The whole answer (see :meth:`stream`; the model that served is ``trace.served``)."""
        settings = settings_for(cfg)
        served = Served(model, request, translate)

        async def call(base: str, token: str, account: Account) -> dict[str, Any]:
            envelope = wrap(
                account.project_id,
                served.model,
                served.request_for(cfg, served.model),
                image=image,
                credits=served.credits,
            )
            response = await self.client.generate(base, token, envelope, routed(settings, account))
            if (notice := version_notice_in(response)) is not None:
                raise UpstreamHTTPError.notice(notice)
            if not has_content(response):  # like an empty stream: another account, not a 200
                raise UpstreamProtocolError("upstream answered without any content")
            return response

        response, grant = await self.call_with_failover(
            cfg, served, call, lambda: False, trace, fallbacks, conversation
        )
        self.picker.release(grant, ok=True)
        if trace is not None:
            trace.upstream_ended = time.monotonic()
        return response

    async def call_with_failover(
        self,
        cfg: GatewayConfig,
        served: Served,
        call: Call[T],
        committed: Callable[[], bool],
        trace: RequestTrace | None = None,
        fallbacks: tuple[str, ...] = (),
        conversation: Conversation | None = None,
    ) -> tuple[T, Grant]:
        """``call(base, token, account)`` until an attempt succeeds; the caller gives the grant
        back (:meth:`Picker.release`). ``served`` says which model and payment each attempt uses."""
        model = served.model
        attempts = Attempts(model)
        later = list(fallbacks)
        trace = trace or RequestTrace("-", "-", "-")
        # The trace times real latency, as the handlers' timestamps do; the rules run on the clock.
        trace.upstream_started = time.monotonic()
        started = self.clock.monotonic()
        last_project: list[str] = []

        async def attempt() -> tuple[T, Grant]:
            if attempts.failures and committed():
                raise client_error_after_retries(attempts.failures)  # headers are out: no retry now
            grant = await self.picker.pick(cfg, attempts, later, conversation)
            served.model, served.credits = grant.model, grant.credits
            account = grant.account
            trace.attempts += 1
            trace.project = mask(account.project_id)
            if last_project and last_project[-1] != account.project_id:
                trace.failovers += 1
            last_project.append(account.project_id)
            try:
                result = await self.on_account.run(cfg, account, call, attempts), grant
            except BaseException as exc:
                self.picker.release(grant, ok=False)
                if isinstance(exc, RetryableFailure):
                    attempts.failures.append(exc.cause)
                    trace.retry_reasons.append(retry_reason(exc.cause))
                    log.warning(
                        "project %s failed, retrying: %s", mask(account.project_id), exc.cause
                    )
                raise
            trace.served = grant.model
            trace.credits = grant.credits
            trace.affinity = grant.affinity
            return result

        try:
            # The first attempt runs bare: most succeed, and building the retry machinery for
            # them cost ~5 % of the CPU of a request (docs/performance.md). Its failure is
            # handed to tenacity as attempt 1, so the retry rules count, wait and stop as always.
            try:
                return await attempt()
            except RetryableFailure as exc:
                first: RetryableFailure | None = exc
            async for retrying in retry_attempts(cfg.retry, started, self.clock):
                with retrying:
                    if first is not None:
                        failed, first = first, None
                        raise failed
                    return await attempt()
        except RetryableFailure:
            recovery = self.state.earliest_recovery(attempts.model)
            raise client_error_after_retries(attempts.failures, recovery) from None
        raise AssertionError("unreachable")  # pragma: no cover

    async def call_account(self, cfg: GatewayConfig, account: Account, call: Call[T]) -> T:
        """A housekeeping call on one given account (refresh and base URLs, no retries)."""
        try:
            return await self.on_account.run(cfg, account, call, Attempts(model=""))
        except RetryableFailure as exc:
            raise exc.cause from None

    async def any_account(self, cfg: GatewayConfig, call: Call[T]) -> T:
        """Housekeeping calls (the model list): enabled accounts in order, no rotation turn."""
        attempts = Attempts(model="")
        while (account := await self.state.peek(exclude=attempts.tried)) is not None:
            attempts.tried.add(account.project_id)
            try:
                return await self.on_account.run(cfg, account, call, attempts)
            except RetryableFailure as exc:
                attempts.failures.append(exc.cause)
        if attempts.failures:
            raise client_error_after_retries(attempts.failures)
        raise NoAvailableAccount("No enabled Google account is available.")

    async def side_call(self, cfg: GatewayConfig, call: Call[T], tries: int = 2) -> T:
        """A call that must never change an account's health (count_tokens): up to ``tries``
        enabled accounts, no cooldown, no disable, no refresh-and-retry; the first failure of
        each account moves on, and the last one is raised."""
        tried: set[str] = set()
        last: BaseException | None = None
        while len(tried) < tries and (account := await self.state.peek(exclude=tried)) is not None:
            tried.add(account.project_id)
            try:
                token = await self.refresher.access_token(account)
                return await self.on_account.over_base_urls(cfg, token, account, call)
            except (UpstreamProblem, RefreshFailed, AccountRevoked) as exc:
                last = exc
        if last is not None:
            raise last
        raise NoAvailableAccount("No enabled Google account is available.")
