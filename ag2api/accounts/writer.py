"""Coalesced, off-loop persistence of the gateway's own account changes to tokens.json."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Protocol, TypeVar

from ag2api.accounts.crypto import PLAINTEXT, TokenCipher
from ag2api.accounts.store import (
    TokensFileError,
    TokensFileMissing,
    apply_gateway_changes,
    update_tokens,
)

log = logging.getLogger("ag2api.accounts")

# After a failed write the next try waits this long, doubling per failure up to the cap.
RETRY_FIRST = 0.5
RETRY_MAX = 30.0
# Fields worth a write of their own only this often: a last use is noted on every request, and
# nobody needs it on disk within the second (a write of anything else, or a stop, takes it along).
LAZY_FIELDS = frozenset({"last_used_at"})
LAZY_INTERVAL = 60.0
OWN_WRITES_KEPT = 16
T = TypeVar("T")


class SharedFields(Protocol):
    """Where the gateway's changes of the fields hosts share go instead of this writer (the
    Redis backend's account sync): it versions them and merges them into tokens.json itself."""

    fields: frozenset[str]

    def take(self, project_id: str, fields: dict[str, Any]) -> None: ...

    def pending(self) -> dict[str, dict[str, Any]]:
        """Values taken and not yet in tokens.json (a reload must not undo them)."""


class TokenWriter:
    """Collects field changes per project and writes them at most about once per interval.

    Writes run on a single worker thread, so the event loop never blocks on the lock or fsync, and
    two writes from this process never interleave. A write that fails (file unreadable, invalid,
    locked) keeps its changes, shows the reason in ``last_error`` and is tried again with backoff,
    or at once when the file changes (:meth:`file_changed`).
    """

    def __init__(
        self,
        path: Path,
        interval: float = 1.0,
        snapshot: Callable[[], dict[str, Any]] | None = None,
        lazy_interval: float | None = None,
    ) -> None:
        self.path = path
        self.interval = interval
        # For changes of LAZY_FIELDS alone (None: the same as the others).
        self.lazy_interval = interval if lazy_interval is None else lazy_interval
        self._due: float | None = None  # when the scheduled write runs (time.monotonic)
        # sha256 of a file this writer wrote → of the file it replaced (None: none was there).
        self._own_writes: dict[str, str | None] = {}
        # The whole document from memory: recreates a deleted file (see _write_pending).
        self.snapshot = snapshot
        self._pending: dict[str, dict[str, Any]] = {}
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ag2api-tokens")
        self._timer: asyncio.TimerHandle | None = None
        self._task: asyncio.Task[None] | None = None
        self._last_write = 0.0
        self._failures = 0
        self._closing = False
        self._attempted = asyncio.Condition()
        self.writes = 0
        self.last_error: str | None = None
        self.last_error_at: float | None = None
        # False while another process owns the file's runtime fields (a shared state's leader).
        self.gate: Callable[[], bool] = lambda: True
        # Seals the tokens on the way out when a key is set (ag2api.accounts.crypto).
        self.cipher: TokenCipher = PLAINTEXT
        # Takes the changes of fields shared between hosts (None: this writer writes them).
        self.shared: SharedFields | None = None
        # Re-reads tokens.json into the pool: after a merge of other hosts' changes (the reloader
        # sets it).
        self.reload: Callable[[], Any] = lambda: None

    def pending(self) -> dict[str, dict[str, Any]]:
        """Changes recorded but not yet written (a reload must not undo them)."""
        out = self.shared.pending() if self.shared is not None else {}
        for pid, fields in self._pending.items():
            out[pid] = {**out.get(pid, {}), **fields}
        return out

    async def run(self, work: Callable[[], T]) -> T:
        """``work`` on this writer's thread (file work never interleaves with its writes)."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, work)

    @property
    def pending_count(self) -> int:
        return len(self._pending)

    def record(self, project_id: str, **fields: Any) -> None:
        """Remember new values for gateway-owned fields of ``project_id``; schedule a write
        (within ``interval``, or ``lazy_interval`` while only LAZY_FIELDS changed)."""
        if self.shared is not None:
            taken = {k: v for k, v in fields.items() if k in self.shared.fields}
            if taken:
                self.shared.take(project_id, taken)
                fields = {k: v for k, v in fields.items() if k not in taken}
                if not fields:
                    return
        if not self.gate():
            return
        self._pending.setdefault(project_id, {}).update(fields)
        if self._task is not None:
            return  # the write in progress plans the next one
        if self._timer is not None and fields.keys() <= LAZY_FIELDS:
            return  # a lazy field never brings a planned write sooner (every request has one)
        now = time.monotonic()
        due = max(now, self._last_write + self._wait())
        sooner = not self._failures and self._due is not None and due < self._due  # not backoff
        if self._timer is None or sooner:
            if self._timer is not None:
                self._timer.cancel()
            self._schedule_at(due)

    def _wait(self) -> float:
        lazy = all(fields.keys() <= LAZY_FIELDS for fields in self._pending.values())
        return self.lazy_interval if lazy else self.interval

    def wrote(self, digest: str, applied: str | None) -> bool:
        """Whether the file whose sha256 is ``digest`` is what this writer made of the file
        whose sha256 is ``applied`` (through its own writes only, nobody else's): a reload of it
        would bring back nothing the gateway does not already hold."""
        seen: set[str] = set()
        while digest in self._own_writes and digest not in seen:
            seen.add(digest)
            before = self._own_writes[digest]
            if before is not None and before == applied:
                return True
            if before is None:
                return False
            digest = before
        return False

    def own_write(self, before: str | None, after: str) -> None:
        """A write on this writer's thread that holds only what the gateway holds already (its
        reload is skipped like that of this writer's own writes)."""
        self._replacing(before, after)

    def _replacing(self, before: str | None, after: str) -> None:
        # On the write thread, before the file is replaced: known by the time a watcher sees it.
        self._own_writes[after] = before
        while len(self._own_writes) > OWN_WRITES_KEPT:
            del self._own_writes[next(iter(self._own_writes))]

    def file_changed(self) -> None:
        """tokens.json was re-read fine: a write waiting to retry after a failure goes now.

        The failure's reason is cleared meanwhile: it described a file that is gone (a new
        failure sets it again).
        """
        if self._failures and self._timer is not None and self._task is None:
            self.last_error = self.last_error_at = None
            self._timer.cancel()
            self._schedule(0.0)

    def _schedule(self, delay: float) -> None:
        self._schedule_at(time.monotonic() + delay)

    def _schedule_at(self, due: float) -> None:
        # The write's time as computed, not re-read from the clock: the next record compares
        # its own due time with it, and a later reading would move the write on every request.
        self._due = due
        delay = max(0.0, due - time.monotonic())
        self._timer = asyncio.get_running_loop().call_later(delay, self._start_flush)

    def _start_flush(self) -> None:
        self._timer = self._due = None
        self._task = asyncio.get_running_loop().create_task(self._flush_then_reschedule())

    async def _flush_then_reschedule(self) -> None:
        try:
            await self._write_pending()
        finally:
            self._task = None
            self._reschedule()

    def _reschedule(self) -> None:
        """Changes are left (recorded meanwhile, or a failed write): plan the next write."""
        if not self._pending or self._closing or self._timer is not None or self._task:
            return
        if self._failures:
            base = max(self.interval, RETRY_FIRST)
            self._schedule(min(RETRY_MAX, base * 2 ** min(self._failures - 1, 8)))
        else:
            self._schedule(self._wait())

    async def _write_pending(self) -> None:
        if not self._pending:
            return
        batch, self._pending = self._pending, {}
        try:
            await self._write(batch)
        except Exception as exc:
            # Keep the changes (newer values recorded meanwhile win) and try again later.
            for pid, fields in batch.items():
                self._pending[pid] = {**fields, **self._pending.get(pid, {})}
            self._failures += 1
            reason = str(exc) if isinstance(exc, OSError | TokensFileError | TimeoutError) else ""
            if not reason:
                log.exception("could not write %s, will retry", self.path)
                reason = f"{self.path}: {type(exc).__name__}: {exc}"
            elif reason != self.last_error:
                log.error("could not write %s, will retry: %s", self.path, reason)
            self.last_error, self.last_error_at = reason, time.time()
        else:
            if self._failures:
                log.info("%s written again after %d failed tries", self.path, self._failures)
            self._failures = 0
            self.last_error = self.last_error_at = None
            self.writes += 1
        finally:
            self._last_write = time.monotonic()
            async with self._attempted:
                self._attempted.notify_all()

    async def _write(self, batch: dict[str, dict[str, Any]]) -> None:
        loop = asyncio.get_running_loop()

        def apply(doc: dict[str, Any]) -> None:
            apply_gateway_changes(doc, batch)

        try:
            await loop.run_in_executor(
                self._executor,
                lambda: update_tokens(
                    self.path, apply, create=None, cipher=self.cipher, replacing=self._replacing
                ),
            )
            return
        except TokensFileMissing:
            # Deleted (by hand, or mid-way through an editor's save): an empty file would empty
            # the pool at the next reload, so write back everything held in memory instead.
            doc = self.snapshot() if self.snapshot is not None else {}
        count = len(doc.get("projects") or ())
        if not count:
            log.info("%s is missing and no account is in memory: nothing to write", self.path)
            return
        recreated: list[bool] = []

        def recreate() -> dict[str, Any]:
            recreated.append(True)
            return doc

        await loop.run_in_executor(
            self._executor,
            lambda: update_tokens(self.path, apply, create=recreate, cipher=self.cipher),
        )
        if recreated:
            log.warning(
                "%s was missing: recreated it from the %d accounts in memory", self.path, count
            )

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 10.0) -> None:
        """Wait until ``predicate()`` holds after a write attempt (used by tests)."""
        async with self._attempted:
            await asyncio.wait_for(self._attempted.wait_for(predicate), timeout)

    async def flush(self) -> None:
        """Write everything pending now (used at shutdown and by tests)."""
        if self._task is not None:
            await self._task
        if self._timer is not None:
            self._timer.cancel()
            self._timer = self._due = None
        await self._write_pending()
        self._reschedule()

    async def aclose(self) -> None:
        self._closing = True
        await self.flush()
        if self._pending:
            log.error(
                "%d accounts' changes could not be written to %s: %s",
                len(self._pending),
                self.path,
                self.last_error,
            )
        self._executor.shutdown(wait=True)
