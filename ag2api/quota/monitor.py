"""Per-account quota checks: fetchAvailableModels (each model's fraction and reset), the quota
summary (5-hour and weekly buckets, best effort) and, for accounts that may spend them,
loadCodeAssist's credits — on a timer, and again soon after a 429 on that account."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from ag2api.quota.book import AccountQuota, QuotaBook
from ag2api.quota.wire import parse_credits, parse_models, parse_summary

log = logging.getLogger("ag2api.quota")
Fetch = Callable[[str], Awaitable[dict[str, Any]]]
# After a 429 the account is checked again, but not more often than this (seconds).
RECHECK_GAP = 10.0


class QuotaMonitor:
    """Keeps :attr:`book` current; ``on_checked(project_id, quota)`` hears every check."""

    def __init__(
        self,
        fetch: Fetch,
        projects: Callable[[], list[str]],
        save: Callable[[str, list[dict[str, Any]]], Awaitable[None]],
        *,
        summary: Fetch | None = None,
        credits: Fetch | None = None,
        wants_credits: Callable[[str], bool] = lambda project: False,
        on_checked: Callable[[str, AccountQuota], None] = lambda project, quota: None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._fetch = fetch
        self._projects = projects
        self._save = save
        self._summary = summary
        self._credits = credits
        self._wants_credits = wants_credits
        self._on_checked = on_checked
        self.clock = clock
        self.book = QuotaBook(clock)
        self._task: asyncio.Task[None] | None = None
        self._running: asyncio.Future[None] | None = None
        self._checks: dict[str, asyncio.Future[AccountQuota]] = {}
        self._rechecked: dict[str, float] = {}
        self._rechecks: set[str] = set()

    def remaining(self, project_id: str, model: str) -> float | None:
        """The account's quota fraction left for ``model`` as last checked; None: unknown."""
        return self.book.model_remaining(project_id, model)

    async def refresh(self) -> None:
        """Check every enabled account now (concurrent refreshes share one run)."""
        if self._running is None:
            self._running = asyncio.ensure_future(self._refresh_all())
        running = self._running
        try:
            await asyncio.shield(running)
        finally:
            if running.done():
                self._running = None

    async def _refresh_all(self) -> None:
        projects = self._projects()
        self.book.forget(set(projects))
        for project in projects:
            try:
                await self.check(project)
            except Exception as exc:  # one account's failure must not stop the others
                log.warning("quota check failed for an account: %s", exc)

    async def check(self, project: str) -> AccountQuota:
        """Check one account now (a check already running for it is shared); raises what its
        model list call raised (the console's "recheck" says so)."""
        return await asyncio.shield(self._start_check(project))

    def _start_check(self, project: str) -> asyncio.Future[AccountQuota]:
        running = self._checks.get(project)
        if running is None:
            running = self._checks[project] = asyncio.ensure_future(self._check(project))
            running.add_done_callback(lambda done: self._finished(project, done))
        return running

    def _finished(self, project: str, done: asyncio.Future[AccountQuota]) -> None:
        self._checks.pop(project, None)
        if not done.cancelled() and done.exception() is not None and project in self._rechecks:
            log.warning("quota check failed for an account: %s", done.exception())
        self._rechecks.discard(project)

    def recheck(self, project: str) -> None:
        """After a 429 on the account: check it again in the background (at most every
        :data:`RECHECK_GAP` seconds)."""
        now = time.monotonic()
        last = self._rechecked.get(project)
        if project in self._checks or (last is not None and now - last < RECHECK_GAP):
            return
        self._rechecked[project] = now
        self._rechecks.add(project)  # nobody awaits it: a failure is logged here
        self._start_check(project)

    async def _check(self, project: str) -> AccountQuota:
        models = parse_models(await self._fetch(project))
        previous = self.book.accounts.get(project)
        buckets = previous.buckets if previous is not None else ()
        if self._summary is not None:
            try:
                buckets = tuple(parse_summary(await self._summary(project)))
            except Exception as exc:  # the summary is a bonus: the models decide
                log.debug("quota summary failed for an account: %s", exc)
        credits = previous.credits if previous is not None else None
        if self._credits is not None and self._wants_credits(project):
            try:
                credits = parse_credits(await self._credits(project))
            except Exception as exc:
                log.debug("credits check failed for an account: %s", exc)
        quota = AccountQuota(self.clock(), tuple(models), buckets, credits)
        self.book.record(project, quota)
        self._on_checked(project, quota)
        await self._save(project, [q.to_json() for q in models])
        return quota

    async def settle(self) -> None:
        """Wait for the checks under way (a recheck after a 429 runs in the background)."""
        while self._checks:
            await asyncio.gather(*list(self._checks.values()), return_exceptions=True)

    def start(
        self,
        interval: Callable[[], float],
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        """Check every account now, then every ``interval()`` seconds (read each time, so a
        reload applies from the next wait); ``sleep`` waits (tests pass one they control)."""

        async def loop() -> None:
            while True:
                await self.refresh()
                await sleep(interval())

        self._task = asyncio.ensure_future(loop())

    async def stop(self) -> None:
        # The shielded runs too: left going, they would save into a usage store closed after us.
        for task in (self._task, self._running, *self._checks.values()):
            if task is not None:
                task.cancel()
                # Whatever the check ended with, the stop goes on.
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        self._task = self._running = None
        self._checks.clear()
