"""What a failed upstream attempt means: for its account (disable, cool down, persist) and for the
request (retry now, retry after a backoff, or give the client an error).

The rules (see :mod:`ag2api.failover.dispatcher` for the loops that apply them): a 429 cools
that (account, model) down and moves on at once, and has the account's quota checked again — a
QUOTA_EXHAUSTED until the reset it names (at most ``retry.max_cooldown``, then one probe, unless
the quota check confirms the reset), a RATE_LIMIT_EXCEEDED or a 429 naming nothing only
briefly (at most ``retry.default_cooldown``), and a short RATE_LIMIT_EXCEEDED is retried on the
same account only when no other is free; an INSUFFICIENT_G1_CREDITS_BALANCE stops that
account's credits until its next quota check; a 5xx, a capacity error, a timeout or a
connection failure moves on too, with exponential backoff and jitter only when the next try
must reuse an account that already failed; a dead refresh token or a 401/403 naming the
account disables it. A 429 that refuses the request's content rather than the account
(:mod:`ag2api.failover.rejections`) holds nothing against it: one other account may try, then
the client hears what was refused.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from dataclasses import dataclass, field

from ag2api.accounts.model import Account
from ag2api.accounts.pool import QUOTA_EXHAUSTED
from ag2api.accounts.proxies import curl_proxy, effective_proxy, mask_proxy
from ag2api.accounts.refresh import TokenEndpointUnreachable
from ag2api.accounts.standing import PROXY_UNREACHABLE
from ag2api.accounts.writer import TokenWriter
from ag2api.config.schema import GatewayConfig
from ag2api.errors import from_upstream
from ag2api.failover.client_errors import content_rejected
from ag2api.failover.notices import UpstreamNotices
from ag2api.failover.policy import RetryableFailure
from ag2api.failover.rejections import (
    ContentRejected,
    QuotaLookup,
    is_content_rejection,
    quota_unknown,
)
from ag2api.quota.wire import epoch
from ag2api.state.base import AccountState
from ag2api.upstream.client import UpstreamConnectionError, UpstreamHTTPError, UpstreamTimeoutError
from ag2api.upstream.google_error import GoogleError

log = logging.getLogger("ag2api.dispatch")


@dataclass
class Attempts:
    """What one request learned from its failed attempts so far."""

    model: str
    tried: set[str] = field(default_factory=set)  # failed this request; others go first
    dead: set[str] = field(default_factory=set)  # never again for this request
    failures: list[BaseException] = field(default_factory=list)


class Verdicts:
    """Judges failed attempts on the shared account state, and saves what changed."""

    def __init__(self, state: AccountState, writer: TokenWriter, notices: UpstreamNotices) -> None:
        self.state = state
        self.writer = writer
        self.notices = notices
        # The quota monitor's view, set once it exists (services); read on a bare 429.
        self.quota_left: QuotaLookup = quota_unknown
        # A 429 on an account: its quota is checked again. Credits refused: none for it until
        # that check (True when this stopped them).
        self.on_429: Callable[[str], None] = lambda project_id: None
        self.stop_credits: Callable[[str], bool] = lambda project_id: False

    def judge(
        self, cfg: GatewayConfig, account: Account, exc: UpstreamHTTPError, attempts: Attempts
    ) -> BaseException:
        """The exception to raise for an upstream HTTP error: a retry, or the client's error."""
        err = exc.error
        if err.is_version_notice:
            return self.notices.client_outdated(cfg.upstream.user_agent, err.message)
        if exc.status == 401:
            reason = f"upstream 401 after a token refresh: {err.message[:200]}"
            self.disable(account, reason, attempts)
            return RetryableFailure(exc)
        if exc.status == 403:
            cause = err.account_cause()
            if cause is None:
                return from_upstream(403, err.message, google_status=err.status)
            self.disable(account, cause, attempts)
            return RetryableFailure(exc)
        if exc.status == 429 and attempts.model:
            if is_content_rejection(err, self.quota_left(account.project_id, attempts.model)):
                return self._content_rejected(account, exc, attempts)
            return self._rate_limited(cfg, account, exc, attempts)
        if exc.status == 429:
            return RetryableFailure(exc)
        if exc.status >= 500:
            return self.transient(cfg, account, exc, attempts)
        return from_upstream(exc.status, err.message, google_status=err.status)

    def _rate_limited(
        self, cfg: GatewayConfig, account: Account, exc: UpstreamHTTPError, attempts: Attempts
    ) -> RetryableFailure:
        r, err, model = cfg.retry, exc.error, attempts.model
        reason = err.reasons[0] if err.reasons else "RESOURCE_EXHAUSTED"
        self.on_429(account.project_id)
        if reason == "INSUFFICIENT_G1_CREDITS_BALANCE":
            if self.stop_credits(account.project_id):
                log.warning("the upstream refused an account's credits: none until its next check")
            attempts.tried.add(account.project_id)  # its free quota is out: it stays cooling
            return RetryableFailure(exc)
        delay = reset_delay(err, self.state.pool.clock())
        if reason == "RATE_LIMIT_EXCEEDED" and delay is not None and delay <= r.short_rate_limit:
            self.state.cool(account, model, delay, reason)
            others = self.state.has_other(model, attempts.tried | {account.project_id})
            if others:
                attempts.tried.add(account.project_id)
                return RetryableFailure(exc)  # never wait while another account is free
            # The same account, once its short limit passes.
            return RetryableFailure(exc, delay=delay)
        if reason == QUOTA_EXHAUSTED:
            wanted = delay if delay is not None else r.default_cooldown
            wait, probe = min(wanted, r.max_cooldown), wanted > r.max_cooldown
        else:  # a rate limit, however long it says: a short back-off, never a long exile
            wait, probe = (
                min(delay if delay is not None else r.default_cooldown, r.default_cooldown),
                False,
            )
        if self.state.cool(account, model, wait, reason, probe=probe):
            self.persist_cooldowns(account)
        attempts.tried.add(account.project_id)
        return RetryableFailure(exc)

    def _content_rejected(
        self, account: Account, exc: UpstreamHTTPError, attempts: Attempts
    ) -> BaseException:
        """Nothing is recorded against the account; one other account may try (a limit that
        looks like a rejection passes there), then the client is told why."""
        model = attempts.model
        rejected = ContentRejected(exc, model)
        attempts.tried.add(account.project_id)
        first = not any(isinstance(f, ContentRejected) for f in attempts.failures)
        if first and self.state.has_other(model, attempts.tried):
            return RetryableFailure(rejected)
        log.warning(
            "the upstream refused a %s request's system prompt (a 429 that is no rate limit); "
            "no account cooled",
            model,
        )
        return content_rejected(model)

    def transient(
        self, cfg: GatewayConfig, account: Account, exc: BaseException, attempts: Attempts
    ) -> RetryableFailure:
        """5xx, capacity, network, timeouts: another account now, or the same after a backoff.

        An account that goes through a proxy and gets no connection is that proxy's fault, not
        the upstream's: the account leaves rotation (``PROXY_UNREACHABLE``, the proxy masked)
        until the recheck finds the proxy working again, and the others keep serving."""
        proxy = effective_proxy(account.proxy, cfg.upstream.proxy)
        if curl_proxy(proxy) and no_connection(exc):
            reason = f"{PROXY_UNREACHABLE}: proxy {mask_proxy(proxy)} failed: {exc}"
            self.disable(account, reason[:300], attempts)
            return RetryableFailure(exc)
        attempts.tried.add(account.project_id)
        if self.state.has_other(attempts.model, attempts.tried):
            return RetryableFailure(exc)
        r = cfg.retry
        failed = sum(
            1 for f in attempts.failures if not isinstance(f, UpstreamHTTPError) or f.status != 429
        )
        backoff = min(r.backoff_max, r.backoff_base * 2**failed)
        return RetryableFailure(exc, delay=backoff * random.uniform(0.5, 1.0))

    def disable(self, account: Account, reason: str, attempts: Attempts) -> None:
        attempts.dead.add(account.project_id)
        attempts.tried.add(account.project_id)
        if self.state.disable(account, reason):
            self.writer.record(
                account.project_id, enabled=False, disabled_reason=account.disabled_reason
            )

    def enable(self, account: Account) -> bool:
        """Back in rotation (the recheck found its cause gone); True when it was out."""
        if self.state.enable(account):
            self.writer.record(account.project_id, enabled=True, disabled_reason=None)
            return True
        return False

    def redisable(self, account: Account, reason: str) -> None:
        """Still out, for a new reason (the recheck found another cause)."""
        if self.state.change_reason(account, reason):
            self.writer.record(
                account.project_id, enabled=False, disabled_reason=account.disabled_reason
            )

    def persist_cooldowns(self, account: Account) -> None:
        self.writer.record(account.project_id, cooldowns=dict(account.cooldowns))


def reset_delay(err: GoogleError, now: float) -> float | None:
    """Seconds until the limit a 429 names lifts: its delay (RetryInfo, ``quotaResetDelay``, the
    message), else its ``quotaResetTimeStamp`` when that is still ahead."""
    if err.retry_delay is not None:
        return err.retry_delay
    at = epoch(err.metadata.get("quotaResetTimeStamp"))
    return at - now if at is not None and at > now else None


def no_connection(exc: BaseException) -> bool:
    """The call never reached the far end: refused, unresolvable, connection timed out."""
    if isinstance(exc, UpstreamTimeoutError):
        return exc.phase == "connection"
    return isinstance(exc, UpstreamConnectionError | TokenEndpointUnreachable)
