"""Serving one client request upstream: pick an account, refresh, fail over before any byte.

The loops, outermost first (tenacity drives the first two):

* **attempts** — at most ``retry.attempts`` upstream attempts within ``retry.total_seconds``;
  what each failure means for its account and whether to back off is
  :mod:`ag2api.failover.verdicts`.
* **refresh** — on an upstream 401/403 the access token is refreshed and the call retried once.
* **base URLs** — tried in the configured order on 404, 5xx and connection failures.

Nothing is retried once the client has seen a byte: the caller passes ``committed``, and a stream
is handed over as soon as its first event arrives.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

from ag2api.accounts.model import Account
from ag2api.accounts.pool import AccountPool, AllCooling, NoRoom
from ag2api.accounts.proxies import routed
from ag2api.accounts.refresh import AccountRevoked, RefreshFailed, TokenRefresher
from ag2api.accounts.slots import SlotLimiter
from ag2api.accounts.writer import TokenWriter
from ag2api.config.schema import GatewayConfig
from ag2api.conversation import Conversation
from ag2api.errors import GatewayError, NoAvailableAccount, from_upstream
from ag2api.failover.client_errors import client_error_after_retries
from ag2api.failover.clock import Clock, SystemClock
from ag2api.failover.notices import UpstreamNotices
from ag2api.failover.policy import (
    RetryableFailure,
    attempts_policy,
    needs_refresh,
    refresh_policy,
    retry_reason,
)
from ag2api.failover.verdicts import Attempts, Verdicts
from ag2api.observe.trace import RequestTrace
from ag2api.quota.book import QuotaBook
from ag2api.redact import mask, mask_projects
from ag2api.state.base import AccountState, Grant, Routing, conversation_key
from ag2api.translate.gemini.events import CONTENT_FILTER_REASONS, candidate_parts, prompt_blocked
from ag2api.upstream.client import (
    AntigravityClient,
    CallSettings,
    UpstreamConnectionError,
    UpstreamHTTPError,
    UpstreamProblem,
    UpstreamProtocolError,
    UpstreamTimeoutError,
    UpstreamTransfer,
)
from ag2api.upstream.envelope import wrap
from ag2api.upstream.google_error import version_notice_in
from ag2api.upstream.sensitive_words import obscure_system

log = logging.getLogger("ag2api.dispatch")
T = TypeVar("T")
Call = Callable[[str, str, Account], Awaitable[T]]


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


@dataclass
class OpenedStream:
    """A stream whose first content has arrived; :meth:`batches` yields it and the rest."""

    grant: Grant
    pending: list[dict[str, Any]]  # read while checking the stream is not empty
    transfer: UpstreamTransfer

    @property
    def model(self) -> str:
        """The model that serves (the one asked, or a fallback)."""
        return self.grant.model

    async def batches(self) -> AsyncIterator[list[dict[str, Any]]]:
        """Events in the batches they arrived in: whatever is already queued goes out in one
        write instead of one per event."""
        transfer = self.transfer
        pending, self.pending = self.pending, []
        pending += transfer.take_ready()  # what arrived with the first content: the same write
        yield pending
        async for event in transfer:
            ready = transfer.take_ready()
            yield [event, *ready] if ready else [event]


@dataclass
class Served:
    """What the attempt under way uses: its model (the one asked, or a fallback), whether it
    pays with credits, and the Gemini request for each model (translated when first needed)."""

    model: str
    request: dict[str, Any]
    translate: Callable[[str], dict[str, Any]] | None = None
    credits: bool = False
    _requests: dict[str, dict[str, Any]] = field(default_factory=dict)

    def request_for(self, cfg: GatewayConfig, model: str) -> dict[str, Any]:
        found = self._requests.get(model)
        if found is None:
            raw = self.request if self.translate is None else self.translate(model)
            found = self._requests[model] = obscure_system(raw, cfg.upstream.sensitive_matcher)
        return found


def has_content(event: dict[str, Any]) -> bool:
    """Whether a stream event carries an answer: a part, a blocked prompt or a safety stop.
    Events before such a one (usage only, empty candidates) are held back, so that a stream that
    ends without content fails over like an error instead of reaching the client as an empty 200.
    """
    if prompt_blocked(event):
        return True
    parts, reason = candidate_parts(event)
    return bool(parts) or reason in CONTENT_FILTER_REASONS


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
        # The quota as last checked (set by the services): balanced routing and credits.
        self.quota = QuotaBook()
        # Set when a shutdown begins: requests waiting for a slot then get 503 at once.
        self.closing = asyncio.Event()

    @property
    def pool(self) -> AccountPool:
        return self.state.pool

    @property
    def slots(self) -> SlotLimiter:
        return self.state.slots

    def begin_shutdown(self) -> None:
        self.closing.set()

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
            self.release(grant, ok=ok)

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
        self.release(grant, ok=True)
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
        back (:meth:`release`). ``served`` says which model and payment each attempt uses."""
        model = served.model
        attempts = Attempts(model)
        later = list(fallbacks)
        trace = trace or RequestTrace("-", "-", "-")
        trace.upstream_started = time.monotonic()
        started = self.clock.monotonic()
        last_project: list[str] = []

        async def attempt() -> tuple[T, Grant]:
            if attempts.failures and committed():
                raise client_error_after_retries(attempts.failures)  # headers are out: no retry now
            grant = await self._pick(cfg, attempts, later, conversation)
            served.model, served.credits = grant.model, grant.credits
            account = grant.account
            trace.attempts += 1
            trace.project = mask(account.project_id)
            if last_project and last_project[-1] != account.project_id:
                trace.failovers += 1
            last_project.append(account.project_id)
            try:
                result = await self._attempt(cfg, account, call, attempts), grant
            except BaseException as exc:
                self.release(grant, ok=False)
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
            # handed to tenacity as attempt 1, so the policy counts, waits and stops as always.
            try:
                return await attempt()
            except RetryableFailure as exc:
                first: RetryableFailure | None = exc
            async for retrying in attempts_policy(cfg.retry, started, self.clock):
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
            return await self._attempt(cfg, account, call, Attempts(model=""))
        except RetryableFailure as exc:
            raise exc.cause from None

    async def any_account(self, cfg: GatewayConfig, call: Call[T]) -> T:
        """Housekeeping calls (the model list): enabled accounts in order, no rotation turn."""
        attempts = Attempts(model="")
        while (account := await self.state.peek(exclude=attempts.tried)) is not None:
            attempts.tried.add(account.project_id)
            try:
                return await self._attempt(cfg, account, call, attempts)
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
                return await self._over_base_urls(cfg, token, account, call)
            except (UpstreamProblem, RefreshFailed, AccountRevoked) as exc:
                last = exc
        if last is not None:
            raise last
        raise NoAvailableAccount("No enabled Google account is available.")

    def routing(self, cfg: GatewayConfig, model: str, conversation: Conversation | None) -> Routing:
        """How this request chooses its account for ``model``."""
        r, quota = cfg.routing, self.quota
        accounts = self.state.accounts()
        remaining: dict[str, float] = {}
        if r.strategy == "balanced":
            for a in accounts:
                left = quota.remaining(a.project_id, model)
                if left is not None:
                    remaining[a.project_id] = left
        credits = frozenset(
            a.project_id
            for a in accounts
            if (cfg.accounts.use_credits if a.use_credits is None else a.use_credits)
            and quota.credits_usable(a.project_id)
        )
        return Routing(
            strategy=r.strategy,
            conversation=conversation_key(conversation.id, model)
            if conversation and r.affinity
            else None,
            fresh=conversation is not None and conversation.started,
            affinity_ttl=r.affinity_ttl,
            remaining=remaining,
            credits=credits,
        )

    async def _pick(
        self,
        cfg: GatewayConfig,
        attempts: Attempts,
        fallbacks: list[str],
        conversation: Conversation | None,
    ) -> Grant:
        """An account for ``attempts.model``; when none can serve it within
        ``limits.slot_wait``, the next of ``fallbacks`` becomes the model."""
        deadline = time.monotonic() + cfg.limits.slot_wait
        while True:
            routing = self.routing(cfg, attempts.model, conversation)
            try:
                grant = await self.state.pick(attempts.model, attempts.tried, routing)
            except NoAvailableAccount:
                if attempts.tried - attempts.dead:  # everyone left failed once: try them again
                    attempts.tried = set(attempts.dead)
                    continue
                if attempts.failures:
                    raise client_error_after_retries(attempts.failures) from None
                raise
            except AllCooling as exc:
                left = deadline - time.monotonic()
                if exc.retry_after <= cfg.retry.short_rate_limit or (
                    fallbacks and exc.retry_after <= left
                ):
                    await self.clock.sleep(exc.retry_after)  # a short rate limit about to lift
                    continue
                if fallbacks:
                    self._fall_back(attempts, fallbacks)
                    continue
                if attempts.failures:
                    raise client_error_after_retries(attempts.failures, exc.retry_after) from None
                raise GatewayError(
                    f"Every account is cooling down for {attempts.model}: {exc}",
                    kind="rate_limit_exceeded",
                    retry_after=exc.retry_after,
                ) from None
            except NoRoom:
                left = deadline - time.monotonic()
                if left <= 0 or not await self._wait_for_room(left):
                    raise GatewayError(
                        "The gateway is shutting down; retry shortly."
                        if self.closing.is_set()
                        else "The gateway is at its concurrency limit (limits.per_account / "
                        "limits.total); retry shortly.",
                        kind="server_busy",
                        retry_after=1.0,
                    ) from None
                continue
            account = grant.account
            if grant.cooldowns_changed:
                self.verdicts.persist_cooldowns(account)
            self.writer.record(account.project_id, last_used_at=int(account.last_used_at or 0))
            return grant

    @staticmethod
    def _fall_back(attempts: Attempts, fallbacks: list[str]) -> None:
        """The next model serves; accounts that failed the last one may serve it."""
        model = fallbacks.pop(0)
        log.info("no account can serve %s now: %s serves instead", attempts.model, model)
        attempts.model = model
        attempts.tried = set(attempts.dead)

    async def _wait_for_room(self, timeout: float) -> bool:
        """True once a slot is given back; False after ``timeout`` or when a shutdown begins."""
        if self.closing.is_set():
            return False
        room = asyncio.ensure_future(self.state.wait_for_room(timeout))
        closing = asyncio.ensure_future(self.closing.wait())
        try:
            await asyncio.wait((room, closing), return_when=asyncio.FIRST_COMPLETED)
        finally:
            closing.cancel()
            room.cancel()
        return room.done() and not room.cancelled() and room.result() and not self.closing.is_set()

    def release(self, grant: Grant, ok: bool) -> None:
        """Give ``grant`` back to the state (once); save the cooldowns its end changed."""
        if self.state.release(grant, ok):
            self.verdicts.persist_cooldowns(grant.account)

    async def _attempt(
        self, cfg: GatewayConfig, account: Account, call: Call[T], attempts: Attempts
    ) -> T:
        try:
            token = await self.refresher.access_token(account)
            try:
                return await self._over_base_urls(cfg, token, account, call)
            except UpstreamHTTPError as exc:
                if not needs_refresh(exc):
                    raise
                first: UpstreamHTTPError | None = exc
            # A 401/403: tenacity refreshes the token and retries once (attempt 1 is the above).
            async for attempt in refresh_policy():
                with attempt:
                    if first is not None:
                        failed, first = first, None
                        raise failed
                    token = await self.refresher.refresh(account, stale=token)
                    return await self._over_base_urls(cfg, token, account, call)
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
            if base != cfg.upstream.base_urls[-1]:
                log.info("base URL %s failed (%s), trying the next one", base, last)
        assert last is not None
        if isinstance(last, UpstreamHTTPError) and last.status == 404:
            raise from_upstream(404, last.error.message, google_status=last.error.status)
        raise last
