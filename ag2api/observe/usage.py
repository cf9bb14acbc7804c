"""Usage statistics per client key x model x project x day, in SQLite (stdlib sqlite3).

Requests only bump in-memory counters; a flush every few seconds writes them in one transaction
on a worker thread, so the event loop never waits on the database. The same file holds the last
quota snapshot per account (for ``ag2api accounts`` and the console).

With a shared state backend (``state.backend: redis``) a flush adds the batch to counters in
Redis instead, and only the elected leader drains those counters into its own file, so replicas
on separate hosts count every request once. While Redis does not answer, a replica writes its
batch to its own file as without Redis (nothing is lost; the totals are then split by host).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import functools
import json
import logging
import os
import sqlite3
import stat
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Protocol

log = logging.getLogger("ag2api.usage")

COLUMNS = (
    "requests",
    "prompt_tokens",
    "completion_tokens",
    "reasoning_tokens",
    "errors",
    "credit_requests",  # served on Google One AI credits
    "fallback_requests",  # served by this model instead of the one asked (models.fallbacks)
)
GROUPS = ("day", "key", "model", "project")
SCHEMA = """
CREATE TABLE IF NOT EXISTS usage (
    day TEXT NOT NULL, key TEXT NOT NULL, model TEXT NOT NULL, project TEXT NOT NULL,
    requests INTEGER NOT NULL DEFAULT 0, prompt_tokens INTEGER NOT NULL DEFAULT 0,
    completion_tokens INTEGER NOT NULL DEFAULT 0, reasoning_tokens INTEGER NOT NULL DEFAULT 0,
    errors INTEGER NOT NULL DEFAULT 0,
    credit_requests INTEGER NOT NULL DEFAULT 0, fallback_requests INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (day, key, model, project));
CREATE TABLE IF NOT EXISTS quota (
    project TEXT PRIMARY KEY, checked_at REAL NOT NULL, models TEXT NOT NULL);
"""
Key = tuple[str, str, str, str]
Batch = dict[Key, list[int]]


class SharedCounters(Protocol):
    """Usage counters shared by the replicas (the Redis backend's ``usage_counters``)."""

    def is_writer(self) -> bool:
        """Whether this replica is the elected leader (it alone drains into its store)."""
        ...

    async def push_usage(self, batch: Batch) -> bool:
        """Add ``batch`` to the shared counters atomically; False when the backend is down."""
        ...

    async def drain_usage(self) -> Batch | None:
        """Read and delete every shared counter at once; None when the backend is down."""
        ...

    async def claim_writer(self) -> bool:
        """Become the leader when none is elected (a replica that stops last flushes)."""
        ...


def connect(path: Path) -> sqlite3.Connection:
    path.parent.mkdir(parents=True, exist_ok=True)
    owner_only(path)
    db = sqlite3.connect(path, timeout=10, check_same_thread=False)
    db.executescript(SCHEMA)
    have = {row[1] for row in db.execute("PRAGMA table_info(usage)")}
    with db:
        for column in COLUMNS:
            if column not in have:  # a file from before the column existed
                db.execute(f"ALTER TABLE usage ADD COLUMN {column} INTEGER NOT NULL DEFAULT 0")
    return db


def owner_only(path: Path) -> None:
    """The store holds each client key's use: readable by its owner only (like tokens.json).
    Created 0600 when missing; an existing file's mode is fixed (SQLite gives its journal files
    the database file's mode)."""
    try:
        os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
        if stat.S_IMODE(os.stat(path).st_mode) != 0o600:
            os.chmod(path, 0o600)
            log.info("%s was readable by others: its mode is now 0600", path)
    except OSError as exc:  # not ours to change: reading and writing may still work
        log.warning("cannot make %s private (mode 0600): %s", path, exc.strerror or exc)


def today(ts: float | None = None) -> str:
    """The UTC day; computed once per minute (it runs for every request)."""
    minute = int((ts or time.time()) // 60)
    return _day_of_minute(minute)


@functools.lru_cache(maxsize=4)
def _day_of_minute(minute: int) -> str:
    return datetime.datetime.fromtimestamp(minute * 60, datetime.UTC).strftime("%Y-%m-%d")


def query_usage(
    db: sqlite3.Connection,
    *,
    since: str | None = None,
    until: str | None = None,
    group_by: tuple[str, ...] = ("day", "key", "model"),
) -> list[dict[str, Any]]:
    """Summed counters, grouped by any of day, key, model, project (days are inclusive)."""
    for group in group_by:
        if group not in GROUPS:
            raise ValueError(f"group_by takes {', '.join(GROUPS)}")
    where, args = [], []
    if since:
        where.append("day >= ?")
        args.append(since)
    if until:
        where.append("day <= ?")
        args.append(until)
    select = ", ".join([*group_by, *(f"SUM({c})" for c in COLUMNS)])
    sql = f"SELECT {select} FROM usage"  # names come from the fixed lists above
    if where:
        sql += " WHERE " + " AND ".join(where)
    if group_by:
        sql += f" GROUP BY {', '.join(group_by)} ORDER BY {', '.join(group_by)}"
    return [
        dict(zip((*group_by, *COLUMNS), row, strict=True))
        for row in db.execute(sql, args).fetchall()
        if row[len(group_by)] is not None
    ]


def read_quota(db: sqlite3.Connection) -> dict[str, tuple[float, dict[str, Any]]]:
    return {
        project: (checked, json.loads(models))
        for project, checked, models in db.execute("SELECT project, checked_at, models FROM quota")
    }


class UsageRecorder:
    def __init__(
        self, path: Path, flush_seconds: float, shared: SharedCounters | None = None
    ) -> None:
        self.path = path
        self.flush_seconds = flush_seconds
        self.shared = shared
        self._pending: Batch = defaultdict(lambda: [0] * len(COLUMNS))
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ag2api-usage")
        self._db: sqlite3.Connection | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._flushing: asyncio.Future[None] | None = None
        self._closed = False
        self._local_fallback = False  # logged once per Redis outage
        if path.exists():
            owner_only(path)  # at start, not at the first write
        if shared is not None:
            # The leader drains the shared counters even when it serves no request itself.
            with contextlib.suppress(RuntimeError):  # no running loop: the first add() arms it
                self._arm()

    def add(
        self,
        *,
        key: str | None,
        model: str | None,
        project: str | None,
        prompt: int,
        completion: int,
        reasoning: int,
        error: bool,
        credits: bool = False,
        fallback: bool = False,
    ) -> None:
        counts = self._pending[(today(), key or "-", model or "-", project or "-")]
        counts[0] += 1
        counts[1] += prompt
        counts[2] += completion
        counts[3] += reasoning
        counts[4] += int(error)
        counts[5] += int(credits)
        counts[6] += int(fallback)
        self._arm()

    def _arm(self) -> None:
        if self._timer is None and not self._closed:
            self._timer = asyncio.get_running_loop().call_later(self.flush_seconds, self._kick)

    def _kick(self) -> None:
        self._timer = None
        self._flushing = asyncio.ensure_future(self._tick())

    async def _tick(self) -> None:
        await self.flush()
        if self.shared is not None:
            self._arm()

    async def flush(self) -> None:
        """Write (or, with shared counters, push) what is pending; the leader also drains."""
        batch, self._pending = self._pending, defaultdict(lambda: [0] * len(COLUMNS))
        if self.shared is not None:
            batch = await self._push(self.shared, batch)
            if self.shared.is_writer():
                batch = await self._drained(self.shared, batch)
        await self._store(batch)

    async def _store(self, batch: Batch) -> None:
        if not batch:
            return
        try:
            await asyncio.get_running_loop().run_in_executor(self._executor, self._write, batch)
        except sqlite3.Error as exc:
            log.error("could not write usage statistics to %s: %s", self.path, exc)

    async def _push(self, shared: SharedCounters, batch: Batch) -> Batch:
        """What is left to write here: nothing once Redis took it, all of it while Redis is down."""
        if not batch:
            return batch
        if await shared.push_usage(batch):
            if self._local_fallback:
                self._local_fallback = False
                log.warning("usage statistics go to the shared counters again")
            return {}
        if not self._local_fallback:
            self._local_fallback = True
            log.error(
                "the shared usage counters are not answering: this replica writes its usage "
                "statistics to %s until they return",
                self.path,
            )
        return batch

    @staticmethod
    async def _drained(shared: SharedCounters, batch: Batch) -> Batch:
        drained = await shared.drain_usage()
        if not drained:
            return batch
        for key, counts in batch.items():  # only when the push failed: Redis just answered
            row = drained.setdefault(key, [0] * len(COLUMNS))
            for i, value in enumerate(counts):
                row[i] += value
        return drained

    def _write(self, batch: Batch) -> None:
        db = self._database()
        with db:
            db.executemany(
                f"INSERT INTO usage (day, key, model, project, {', '.join(COLUMNS)}) "
                f"VALUES ({', '.join('?' * (4 + len(COLUMNS)))}) "
                "ON CONFLICT (day, key, model, project) DO UPDATE SET "
                + ", ".join(f"{c} = {c} + excluded.{c}" for c in COLUMNS),
                [(*key, *counts) for key, counts in batch.items()],
            )

    def _database(self) -> sqlite3.Connection:
        if self._db is None:
            self._db = connect(self.path)
        return self._db

    async def run(self, fn: Any, *args: Any) -> Any:
        """Run ``fn(db, *args)`` on the database thread (queries from handlers)."""
        return await asyncio.get_running_loop().run_in_executor(
            self._executor, lambda: fn(self._database(), *args)
        )

    async def save_quota(self, project: str, models: list[dict[str, Any]]) -> None:
        def write(db: sqlite3.Connection) -> None:
            with db:
                db.execute(
                    "INSERT OR REPLACE INTO quota (project, checked_at, models) VALUES (?,?,?)",
                    (project, time.time(), json.dumps(models)),
                )

        await self.run(write)

    async def aclose(self) -> None:
        """A graceful stop: nothing pending is lost (call before the state backend closes)."""
        self._closed = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._flushing is not None:
            await self._flushing
        if self.shared is None:
            await self.flush()
        else:
            batch, self._pending = self._pending, defaultdict(lambda: [0] * len(COLUMNS))
            batch = await self._push(self.shared, batch)
            # The leader, or the last replica to stop (no leader left), drains the rest;
            # otherwise the counts wait in Redis for the leader's next flush.
            if self.shared.is_writer() or await self.shared.claim_writer():
                batch = await self._drained(self.shared, batch)
            await self._store(batch)
        if self._db is not None:
            db, self._db = self._db, None
            await asyncio.get_running_loop().run_in_executor(self._executor, db.close)
        self._executor.shutdown(wait=True)
