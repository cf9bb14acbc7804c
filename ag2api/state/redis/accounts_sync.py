"""The account list shared between hosts: every host's tokens.json kept in step through Redis.

Each round (every ``state.sync_seconds``, sooner after a runtime change), off the request path:

1. read this host's tokens.json and its ledger (:mod:`ag2api.accounts.ledger`) under the lock;
2. publish what changed here (a project added, an edited field, a removal) with a new version
   (Redis ``TIME``), and this gateway's own runtime changes (a disable, an enable, a rotated
   refresh token) stamped when they happened;
3. read the accounts other hosts changed since the last round (a change number per account);
4. merge them into tokens.json (:mod:`ag2api.accounts.sync_merge`): the newer version of each
   field wins and a local edit made meanwhile is never overwritten; the pool then re-reads it.

After a flush (a Redis with no epoch, or another one) each host republishes what its ledger
holds, with the versions it recorded, so the newest values win again; at start it does the same,
which also shares the runtime changes it made while Redis did not answer. Work per round is
bounded; how the list sits in Redis is :mod:`ag2api.state.redis.account_records`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path
from typing import Any

from ag2api.accounts.crypto import TokenCipher
from ag2api.accounts.ledger import SHARED_FIELDS, Ledger, Locked, Stamp, digest, shared_values
from ag2api.accounts.store import TokensFileError
from ag2api.accounts.sync_file import Synced, merge_file, read_synced
from ag2api.accounts.sync_merge import Change, SharedProject, local_changes, merge
from ag2api.accounts.writer import TokenWriter
from ag2api.state.base import HostSeen, SharingStatus
from ag2api.state.redis.account_records import AccountRecords, Entry, normalise
from ag2api.state.redis.client import Down, RedisClient
from ag2api.state.redis.rounds import Rounds

log = logging.getLogger("ag2api.state")

PULL_LIMIT = 500  # accounts read per round
PUBLISH_LIMIT = 200  # accounts published per round
PURGE_EVERY = 60.0
Fields = dict[str, tuple[Stamp, Any]]


class AccountSync:
    fields = frozenset(SHARED_FIELDS)

    def __init__(
        self,
        client: RedisClient,
        writer: TokenWriter,
        cipher: TokenCipher,
        host: str,
        *,
        interval: float,
        tombstone_seconds: float,
        is_leader: Callable[[], bool],
        pool_empty: Callable[[], bool],
    ) -> None:
        self.records = AccountRecords(client, cipher)
        self.writer = writer
        self.cipher = cipher
        self.host = host
        self.tombstone_ms = int(tombstone_seconds * 1000)
        self.is_leader = is_leader
        self.pool_empty = pool_empty
        # This gateway's runtime changes: not yet published, not yet in tokens.json.
        self._queue: dict[str, Fields] = {}
        self._unwritten: dict[str, Fields] = {}
        self._known: dict[str, dict[str, Any]] = {}  # the shared values of the file last read
        self._ledger_ids: list[str] = []
        self._since = 0  # the last change number read
        self._since_epoch = ""  # the copy of the list ``_since`` counts in
        self._epoch: str | None = None  # the copy this host's ledger is in step with
        self._seen_epoch = ""  # the copy Redis held at its last answer
        self._republish: list[str] | None = None  # projects still to republish
        self._started = False
        self._offset_ms = 0.0  # Redis time minus this host's clock
        self._unpublished = 0
        self._held = 0
        self._last_purge = 0.0
        self._hosts: tuple[HostSeen, ...] = ()
        self.last_sync: float | None = None
        self.last_error: str | None = None
        self._said: str | None = None
        self._rounds = Rounds(self.tick, interval, "account sync")
        self.first_round = self._rounds.first_round

    # -- the gateway's own changes (the writer hands them over) ---------------------------
    def take(self, project_id: str, fields: dict[str, Any]) -> None:
        stamp = Stamp(self._now_ms(), False, self.host)
        known = self._known.get(project_id, {})
        queued = self._unwritten.get(project_id, {})
        for name, raw in fields.items():
            value = normalise(name, raw)
            if name in queued:
                if value == queued[name][1]:
                    continue
            elif name in known and value == known[name]:
                continue  # unchanged (every refresh records the same refresh token)
            self._queue.setdefault(project_id, {})[name] = (stamp, value)
            self._unwritten.setdefault(project_id, {})[name] = (stamp, value)
        self._rounds.wake()

    def pending(self) -> dict[str, dict[str, Any]]:
        return {pid: {n: v for n, (_s, v) in f.items()} for pid, f in self._unwritten.items()}

    def _now_ms(self) -> int:
        """Redis time, as well as this host knows it (its clock and the last offset seen)."""
        return int(time.time() * 1000 + self._offset_ms)

    # -- the loop -----------------------------------------------------------------------
    async def run(self) -> None:
        await self._rounds.run()
        if self._queue or self._unwritten:  # a stop writes (and shares) what is left
            with suppress(Exception):
                await self.tick()

    def stop(self) -> None:
        """The loop ends after the round under way."""
        self._rounds.stop()

    async def tick(self) -> None:
        """One round: publish this host's changes, read the others', merge them into the file."""
        path = self.writer.path
        synced: Synced | None = None
        try:
            synced = await self.writer.run(lambda: read_synced(path))
        except (TokensFileError, OSError) as exc:
            self._fail(str(exc))
        else:
            self.last_error = None  # a merge that fails below says so again
            self._remember(synced)
        shared: list[SharedProject] = []
        published: set[str] = set()
        online = False
        await self.records.client.recover()  # else the round trips below say Down at once
        try:
            if synced is not None and synced.doc is not None:
                changes = local_changes(synced.doc, synced.ledger, self.cipher)
                self._unpublished = len(changes)
                shared += await self._publish_changes(changes, published)
                self._unpublished = 0
            if synced is not None:
                shared += await self._republish_some(synced.ledger)
            shared += await self._publish_runtime()
            shared += await self._pull()
            online = True
        except Down:
            pass
        behind = synced is not None and self._epoch and synced.ledger.epoch != self._epoch
        if shared or self._unwritten or behind:
            await self._merge(path, shared, frozenset(published))
        if online:
            self.last_sync = time.time()
            await self._purge()

    def _remember(self, synced: Synced) -> None:
        self._ledger_ids = sorted(synced.ledger.projects)
        if not self._started:
            self._started = True
            self._epoch = synced.ledger.epoch
            self._republish = list(self._ledger_ids)  # runtime changes made offline reach Redis
        self._known = {}
        for entry in (synced.doc or {}).get("projects") or ():
            if isinstance(entry, dict) and isinstance(entry.get("project_id"), str):
                with suppress(Locked):
                    self._known[entry["project_id"]] = shared_values(entry, self.cipher)

    def _fail(self, reason: str) -> None:
        if reason != self._said:  # once per cause, not every round
            log.error("account sync: %s", reason)
        self.last_error = self._said = reason

    # -- publishing ---------------------------------------------------------------------
    async def _publish_changes(
        self, changes: list[Change], published: set[str]
    ) -> list[SharedProject]:
        """This host's changes, versioned now (a first sync's as the oldest). A secret that is
        not shared (no key) is recorded as this file's own, so it is not found again."""
        batch: dict[str, list[Entry]] = {}
        unshared: dict[str, Fields] = {}
        for change in changes:
            pid = change.project_id
            if pid not in batch and len(batch) >= PUBLISH_LIMIT:
                break
            ms = 0 if change.base else -1
            entries = batch.setdefault(pid, [])
            if change.kind in ("add", "remove"):
                published.add(pid)
                entries.append(
                    ("added" if change.kind == "add" else "gone", ms, True, self.host, "")
                )
            for name, value in change.values.items():
                encoded = self.records.encode(name, value)
                if encoded is not None:
                    entries.append((name, ms, True, self.host, encoded))
                else:
                    stamp = Stamp(self._now_ms() if ms else 0, True, self.host)
                    unshared.setdefault(pid, {})[name] = (stamp, value)
        out = await self._put(batch)
        return out + [SharedProject(pid, fields=f) for pid, f in unshared.items()]

    async def _publish_runtime(self) -> list[SharedProject]:
        taken = {pid: dict(fields) for pid, fields in self._queue.items()}
        batch: dict[str, list[Entry]] = {}
        for pid, fields in taken.items():
            for name, (stamp, value) in fields.items():
                encoded = self.records.encode(name, value)
                if encoded is not None:
                    entry = (name, stamp.version, False, stamp.host, encoded)
                    batch.setdefault(pid, []).append(entry)
        out = await self._put(batch)
        _forget(self._queue, taken)  # published, unless changed again meanwhile
        return out

    async def _republish_some(self, ledger: Ledger) -> list[SharedProject]:
        """What the ledger holds, with its versions: after a flush, and at start."""
        if self._republish is None:
            return []
        todo, rest = self._republish[:PUBLISH_LIMIT], self._republish[PUBLISH_LIMIT:]
        batch: dict[str, list[Entry]] = {}
        for pid in todo:
            rec = ledger.projects.get(pid)
            if rec is None:
                continue
            entries = batch.setdefault(pid, [])
            for name, stamp in (("added", rec.added), ("gone", rec.gone)):
                if stamp is not None:
                    entries.append((name, stamp.version, stamp.person, stamp.host, ""))
            values = self._known.get(pid) if rec.present else None
            for name, versioned in rec.fields.items():
                if values is None or digest(values.get(name)) != versioned.digest:
                    continue  # changed here since: published as a change
                encoded = self.records.encode(name, values[name])
                if encoded is not None:
                    s = versioned.stamp
                    entries.append((name, s.version, s.person, s.host, encoded))
        out = await self._put(batch, always=True)
        self._republish = rest
        if not rest:  # done: the ledger is in step with this copy
            self._republish = None
            self._epoch = self._seen_epoch
        return out

    async def _put(
        self, batch: dict[str, list[Entry]], always: bool = False
    ) -> list[SharedProject]:
        if not batch and not always:
            return []
        epoch, now_ms, out = await self.records.put(batch)
        self._saw(epoch, now_ms)
        return out

    # -- reading ------------------------------------------------------------------------
    async def _pull(self) -> list[SharedProject]:
        pulled = await self.records.pull(self._since, PULL_LIMIT, self.host, self.status_pending())
        fresh = self._saw(pulled.epoch, pulled.now_ms)
        self._hosts = pulled.hosts
        if not fresh:  # read with a number of another copy: read again from 0
            for number, _project in pulled.projects:
                self._since = max(self._since, number)
        return [project for _number, project in pulled.projects]

    def _saw(self, epoch: str, now_ms: int) -> bool:
        """Redis answered: its clock, and which copy it holds (a new one after a flush: the
        change numbers start again, True, and this host republishes what it holds)."""
        self._offset_ms = now_ms - time.time() * 1000
        self._seen_epoch = epoch
        fresh = epoch != self._since_epoch
        if fresh:
            self._since_epoch, self._since = epoch, 0
        if epoch != self._epoch and self._republish is None:
            self._republish = list(self._ledger_ids)
        return fresh

    # -- merging ------------------------------------------------------------------------
    async def _merge(
        self, path: Path, shared: list[SharedProject], published: frozenset[str]
    ) -> None:
        """``shared`` and this gateway's own runtime changes into tokens.json (the latter even
        while Redis does not answer); the pool re-reads the file when it got others' changes."""
        runtime = {pid: dict(f) for pid, f in self._unwritten.items()}
        own = [SharedProject(pid, fields=f) for pid, f in runtime.items()]
        epoch = self._epoch

        def change(doc: dict[str, Any], ledger: Ledger) -> tuple[bool, bool, bool]:
            result = merge(doc, ledger, shared, self.cipher, published=published)
            mine = merge(doc, ledger, own, self.cipher)
            self._held = result.held + mine.held
            ledger_changed = result.ledger_changed or mine.ledger_changed
            if epoch and ledger.epoch != epoch:
                ledger.epoch, ledger_changed = epoch, True
            return result.changed or mine.changed, ledger_changed, result.changed

        create = self.pool_empty()  # a new host's first tokens.json; never over a lost one
        own_write = self.writer.own_write
        try:
            wrote = await self.writer.run(
                lambda: merge_file(path, self.cipher, change, create=create, own_write=own_write)
            )
        except (TokensFileError, OSError, TimeoutError) as exc:
            self._fail(f"cannot merge the shared accounts into {path}: {exc}")
            return
        self.last_error = None
        _forget(self._unwritten, runtime)  # in the file now (or lost to a newer version)
        if wrote:
            self.writer.reload()

    async def _purge(self) -> None:
        now = time.monotonic()
        if not self.is_leader() or now - self._last_purge < PURGE_EVERY:
            return
        self._last_purge = now
        with suppress(Down):
            await self.records.purge(self.tombstone_ms)

    # -- what /health and /admin show ---------------------------------------------------
    def status_pending(self) -> int:
        """Changes found here and not yet published, runtime changes not yet published or
        written, shared versions held back, projects still to republish."""
        queued = {*self._queue, *self._unwritten}
        return self._unpublished + len(queued) + self._held + len(self._republish or ())

    def status(self) -> SharingStatus:
        return SharingStatus(
            self.host,
            self.cipher.enabled,
            self.last_sync,
            self.status_pending(),
            self._hosts,
            self.last_error,
        )


def _forget(queue: dict[str, Fields], done: dict[str, Fields]) -> None:
    """Drop from ``queue`` what ``done`` holds, unless it changed since."""
    for pid, fields in done.items():
        mine = queue.get(pid, {})
        for name, value in fields.items():
            if mine.get(name) == value:
                del mine[name]
        if not mine:
            queue.pop(pid, None)
