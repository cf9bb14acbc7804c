"""Choosing where one attempt goes: an account and a slot for the model, the routing it is chosen
by (balanced quota, credits, conversation affinity), waits for a short rate limit or a free slot,
the next fallback model when none can serve, and the grant given back afterwards."""

from __future__ import annotations

import asyncio
import logging

from ag2api.accounts.pool import AllCooling, NoRoom
from ag2api.accounts.writer import TokenWriter
from ag2api.config.schema import GatewayConfig
from ag2api.errors import GatewayError, NoAvailableAccount
from ag2api.failover.client_errors import client_error_after_retries
from ag2api.failover.clock import Clock
from ag2api.failover.verdicts import Attempts, Verdicts
from ag2api.quota.book import QuotaBook
from ag2api.state.base import AccountState, Grant, Routing, conversation_key
from ag2api.translate.conversation import Conversation

log = logging.getLogger("ag2api.dispatch")


class Picker:
    """Grants accounts to the dispatcher's attempts and takes them back."""

    def __init__(
        self, state: AccountState, verdicts: Verdicts, writer: TokenWriter, clock: Clock
    ) -> None:
        self.state = state
        self.verdicts = verdicts
        self.writer = writer
        # The slot_wait deadline is measured on this, and short rate-limit and slot waits sleep
        # on it.
        self.clock = clock
        # The quota as last checked (set by the services): balanced routing and credits.
        self.quota = QuotaBook()
        # Set when a shutdown begins: requests waiting for a slot then get 503 at once.
        self.closing = asyncio.Event()

    def begin_shutdown(self) -> None:
        self.closing.set()

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

    async def pick(
        self,
        cfg: GatewayConfig,
        attempts: Attempts,
        fallbacks: list[str],
        conversation: Conversation | None,
    ) -> Grant:
        """An account for ``attempts.model``; when none can serve it within
        ``limits.slot_wait``, the next of ``fallbacks`` becomes the model."""
        deadline = self.clock.monotonic() + cfg.limits.slot_wait
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
                left = deadline - self.clock.monotonic()
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
                left = deadline - self.clock.monotonic()
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
        """True once a slot is given back; False after ``timeout`` (on the clock) or when a
        shutdown begins."""
        if self.closing.is_set():
            return False
        room = asyncio.ensure_future(self.state.wait_for_room(timeout))
        closing = asyncio.ensure_future(self.closing.wait())
        # The state times out on the loop's time; this ends the wait on the clock's.
        expired = asyncio.ensure_future(self.clock.sleep(timeout))
        try:
            await asyncio.wait((room, closing, expired), return_when=asyncio.FIRST_COMPLETED)
        finally:
            expired.cancel()
            closing.cancel()
            room.cancel()
        return room.done() and not room.cancelled() and room.result() and not self.closing.is_set()

    def release(self, grant: Grant, ok: bool) -> None:
        """Give ``grant`` back to the state (once); save the cooldowns its end changed."""
        if self.state.release(grant, ok):
            self.verdicts.persist_cooldowns(grant.account)
