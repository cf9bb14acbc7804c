"""Coalesced, off-loop persistence of the gateway's own account changes to tokens.json."""

from __future__ import annotations

import asyncio
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from ag2api.accounts.store import TokensFileError, apply_gateway_changes, update_tokens

log = logging.getLogger("ag2api.accounts")


class TokenWriter:
    """Collects field changes per project and writes them at most about once per interval.

    Writes run on a single worker thread, so the event loop never blocks on the lock or fsync, and
    two writes from this process never interleave.
    """

    def __init__(self, path: Path, interval: float = 1.0) -> None:
        self.path = path
        self.interval = interval
        self._pending: dict[str, dict[str, Any]] = {}
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ag2api-tokens")
        self._timer: asyncio.TimerHandle | None = None
        self._task: asyncio.Task[None] | None = None
        self._last_write = 0.0
        self.writes = 0

    def pending(self) -> dict[str, dict[str, Any]]:
        """Changes recorded but not yet written (a reload must not undo them)."""
        return {pid: dict(fields) for pid, fields in self._pending.items()}

    def record(self, project_id: str, **fields: Any) -> None:
        """Remember new values for gateway-owned fields of ``project_id``; schedule a write."""
        self._pending.setdefault(project_id, {}).update(fields)
        if self._timer is None and self._task is None:
            loop = asyncio.get_running_loop()
            delay = max(0.0, self._last_write + self.interval - time.monotonic())
            self._timer = loop.call_later(delay, self._start_flush)

    def _start_flush(self) -> None:
        self._timer = None
        self._task = asyncio.get_running_loop().create_task(self._flush_then_reschedule())

    async def _flush_then_reschedule(self) -> None:
        try:
            await self._write_pending()
        finally:
            self._task = None
            if self._pending:
                loop = asyncio.get_running_loop()
                self._timer = loop.call_later(self.interval, self._start_flush)

    async def _write_pending(self) -> None:
        if not self._pending:
            return
        batch, self._pending = self._pending, {}
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(
                self._executor,
                update_tokens,
                self.path,
                lambda doc: apply_gateway_changes(doc, batch),
            )
        except (OSError, TokensFileError, TimeoutError) as exc:
            # Keep the changes (newer values recorded meanwhile win) and try again later.
            for pid, fields in batch.items():
                self._pending[pid] = {**fields, **self._pending.get(pid, {})}
            log.error("could not write %s, will retry: %s", self.path, exc)
        else:
            self.writes += 1
        finally:
            self._last_write = time.monotonic()

    async def flush(self) -> None:
        """Write everything pending now (used at shutdown and by tests)."""
        if self._task is not None:
            await self._task
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        await self._write_pending()

    async def aclose(self) -> None:
        await self.flush()
        self._executor.shutdown(wait=True)
