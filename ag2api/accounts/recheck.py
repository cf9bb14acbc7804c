"""Accounts out of rotation for a cause that may pass come back by themselves.

Every account disabled for a recheckable cause (:mod:`ag2api.accounts.standing`: needs
verification, proxy unreachable, …) gets one cheap probe (the caller's, a loadCodeAssist) every
``accounts.recheck_seconds`` — a proxy fault after a minute already. A probe that passes puts the
account back; one that fails keeps it out, with the new reason when the cause changed (a dead
refresh token then keeps it out for good). With several replicas only the one that writes
tokens.json rechecks (``active``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

from ag2api.accounts.model import Account
from ag2api.accounts.standing import is_proxy_fault, recheckable, verification_url
from ag2api.redact import mask

log = logging.getLogger("ag2api.accounts")

# A proxy fault is looked at again this soon (if recheck_seconds is not shorter).
PROXY_RECHECK = 60.0


@dataclass(frozen=True)
class Verdict:
    """A probe's answer: ``back`` into rotation, or out still (``reason``: the cause now, None:
    as before)."""

    back: bool
    reason: str | None = None


Probe = Callable[[Account], Awaitable[Verdict]]


class Rechecker:
    def __init__(
        self,
        accounts: Callable[[], Iterable[Account]],
        probe: Probe,
        enable: Callable[[Account], bool],
        redisable: Callable[[Account, str], None],
        interval: Callable[[], float],
        active: Callable[[], bool] = lambda: True,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._accounts = accounts
        self._probe = probe
        self._enable = enable
        self._redisable = redisable
        self._interval = interval
        self._active = active
        self.clock = clock
        # project → (the reason it was scheduled for, when it is due)
        self._due: dict[str, tuple[str, float]] = {}
        self._task: asyncio.Task[None] | None = None
        self.checks = 0

    def _delay(self, reason: str) -> float:
        interval = self._interval()
        return min(interval, PROXY_RECHECK) if is_proxy_fault(reason) else interval

    def due(self) -> list[Account]:
        """The accounts whose recheck is due now (newly disabled ones are scheduled)."""
        now = self.clock()
        waiting: dict[str, tuple[str, float]] = {}
        ready = []
        for account in self._accounts():
            reason = account.disabled_reason or ""
            if account.enabled or not recheckable(reason):
                continue
            seen = self._due.get(account.project_id)
            if seen is None or seen[0] != reason:
                seen = (reason, now + self._delay(reason))
            waiting[account.project_id] = seen
            if seen[1] <= now:
                ready.append(account)
        self._due = waiting
        return ready

    async def run_once(self) -> int:
        """Probe every account that is due; returns how many came back."""
        if not self._active():
            return 0
        back = 0
        for account in self.due():
            back += await self._check(account)
        return back

    async def check_now(self, account: Account) -> bool | None:
        """Probe ``account`` now, whenever its recheck is due (a person asked): True when it
        came back, False when it stays out, None when it is not out for a cause that passes."""
        if account.enabled or not recheckable(account.disabled_reason):
            return None
        return bool(await self._check(account))

    async def _check(self, account: Account) -> int:
        self.checks += 1
        try:
            verdict = await self._probe(account)
        except Exception as exc:  # one account's failure must not stop the others
            log.warning("recheck of project %s failed: %s", mask(account.project_id), exc)
            verdict = Verdict(False)
        if account.enabled:  # a person or a reload put it back meanwhile
            return 0
        if verdict.back:
            if self._enable(account):
                log.info("project %s is back in rotation", mask(account.project_id))
                return 1
            return 0
        if verdict.reason and not same_cause(verdict.reason, account.disabled_reason):
            self._redisable(account, verdict.reason)
        reason = account.disabled_reason or ""
        self._due[account.project_id] = (reason, self.clock() + self._delay(reason))
        return 0

    def start(self) -> None:
        async def loop() -> None:
            while True:
                await self.run_once()
                # Often enough to catch a new proxy fault about on time; a scan is cheap.
                await asyncio.sleep(max(1.0, min(self._interval(), PROXY_RECHECK) / 4))

        self._task = asyncio.ensure_future(loop())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None


def same_cause(new: str, old: str | None) -> bool:
    """The same cause in other words (no rewrite of tokens.json for that)."""
    if not old or new.split(":", 1)[0] != old.split(":", 1)[0]:
        return False
    return verification_url(new) == verification_url(old)
