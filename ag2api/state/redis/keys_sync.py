"""Client keys made in the console, shared between hosts through Redis.

A key created, edited, disabled or deleted through ``/admin/api/keys`` on one host (or published
with ``ag2api keys publish``) is published with a version (Redis ``TIME``); every other host writes
it into its own gateway.yaml with the console's comment-preserving writer
(:meth:`ag2api.config.keys_file.KeysFile.put_shared`) and reloads, within a round or two
(``state.sync_seconds``). Keys a person wrote by hand stay that host's. A host whose entry for a
shared label was edited by hand since, or that holds a hand-written key of that label, keeps its
own and reports the shared version as held. After a flush (or at start) each host republishes
the shared keys its ledger (:mod:`ag2api.config.shared_keys`) holds, with their versions.

Keys (under ``state.key_prefix``): ``skey:<id>`` hash (``name``: the label, ``s:entry``/
``x:entry``: the entry's version and ``{"key": "sha256:…", "policy"}``, ``s:gone``), ``skeys``
zset id → change number, ``skeys:seq``, ``skeys:epoch``, ``skeys:gone``. The id is a hash of the
label; no key is ever stored, only its hash (which gateway.yaml may hold as well).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import socket
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ag2api.config.keys_file import KeyEditError, KeysFile
from ag2api.config.schema import GatewayConfig
from ag2api.config.shared_keys import (
    KeysLedger,
    Known,
    digest,
    entries,
    ledger_path,
    parse_keys_ledger,
)
from ag2api.files.safewrite import lock_for, write_atomic
from ag2api.state.redis.account_records import parse_stamp
from ag2api.state.redis.client import Down, RedisClient, pairs, redact_url, text
from ag2api.state.redis.rounds import Rounds

log = logging.getLogger("ag2api.state")

PULL_LIMIT = 200
Stamp = tuple[int, bool, str]  # (ms, person, host), ordered as accounts' stamps
# One label to publish: label, entry (None: deleted), ms (-1: Redis' now), person, host.
Change = tuple[str, dict[str, Any] | None, int, bool, str]


def key_id(label: str) -> str:
    return "skey_" + hashlib.sha256(b"ag2api:" + label.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class SharedKey:
    """A label as Redis holds it: its entry and that entry's stamp, and its deletion's."""

    label: str
    entry: dict[str, Any] | None
    entry_stamp: Stamp | None
    gone: Stamp | None

    @property
    def stamp(self) -> Stamp:
        return max(s for s in (self.entry_stamp, self.gone, (0, False, "")) if s is not None)

    @property
    def present(self) -> bool:
        return self.entry_stamp is not None and (self.gone is None or self.entry_stamp > self.gone)


def read_files(path: Path) -> tuple[str, KeysLedger]:
    """gateway.yaml's text and its keys ledger, read under its lock."""
    with lock_for(path):
        text_ = path.read_text(encoding="utf-8")
        try:
            data: bytes | None = ledger_path(path).read_bytes()
        except FileNotFoundError:
            data = None
    return text_, parse_keys_ledger(data)


def record_known(path: Path, known: dict[str, Known], epoch: str | None) -> None:
    """Into the ledger, under gateway.yaml's lock: each label's newer version (another process
    on this file may have recorded a newer one meanwhile)."""
    with lock_for(path):
        target = ledger_path(path)
        try:
            ledger = parse_keys_ledger(target.read_bytes())
        except FileNotFoundError:
            ledger = KeysLedger()
        for label, k in known.items():
            mine = ledger.keys.get(label)
            if mine is None or k.stamp > mine.stamp:
                ledger.keys[label] = k
        if epoch is not None:
            ledger.epoch = epoch
        write_atomic(target, ledger.text())


class SharedKeyRecords:
    """The shared keys in Redis (the versioned scripts of :mod:`.sync_scripts`)."""

    def __init__(self, client: RedisClient) -> None:
        self.client = client

    def _keys(self, *names: str) -> list[str]:
        return [self.client.key(*name.split(":")) for name in names]

    async def put(self, changes: list[Change]) -> tuple[str, list[SharedKey]]:
        """Publish ``changes``; returns the epoch and the labels as Redis then holds them."""
        args: list[str | int] = [self.client.key("skey", ""), uuid.uuid4().hex, len(changes)]
        for label, entry, ms, person, host in changes:
            kind = "p" if person else "g"
            args += [key_id(label), label, 1]
            if entry is None:
                args += ["gone", ms, kind, host, ""]
            else:
                args += ["entry", ms, kind, host, json.dumps(entry)]
        keys = self._keys("skeys", "skeys:seq", "skeys:epoch", "skeys:gone")
        script = self.client.scripts["versioned_put"]
        res = await self.client.bounded(lambda: script(keys=keys, args=args))
        return text(res[0]), [k for item in res[2:] if (k := _decode(pairs(item[1]))) is not None]

    async def pull(self, since: int) -> tuple[str, list[tuple[int, SharedKey]]]:
        args: list[str | int] = [self.client.key("skey", ""), since, PULL_LIMIT, "", ""]
        keys = self._keys("skeys", "skeys:epoch", "skeys:hosts")
        script = self.client.scripts["versioned_pull"]
        res = await self.client.bounded(lambda: script(keys=keys, args=args))
        out = []
        for item in res[3:]:
            key = _decode(pairs(item[2]))
            if key is not None:
                out.append((int(float(text(item[1]))), key))
        return text(res[1]), out


def _decode(h: dict[str, str]) -> SharedKey | None:
    label = h.get("name")
    if not label:
        return None
    try:
        entry = json.loads(h["x:entry"]) if "x:entry" in h else None
    except ValueError:
        entry = None
    return SharedKey(
        label,
        entry if isinstance(entry, dict) else None,
        _stamp(h.get("s:entry")),
        _stamp(h.get("s:gone")),
    )


def _stamp(raw: str | None) -> Stamp | None:
    s = parse_stamp(raw)
    return (s.version, s.person, s.host) if s is not None else None


class KeySync:
    def __init__(self, client: RedisClient, config_path: Path, host: str, interval: float) -> None:
        self.records = SharedKeyRecords(client)
        self.path = config_path
        self.host = host
        # Re-reads gateway.yaml after a shared key was written into it (the reloader sets it).
        self.reload: Callable[[], Any] = lambda: None
        self._queue: set[str] = set()  # labels changed in the console, to publish
        self._since = 0
        self._since_epoch = ""
        self._epoch: str | None = None
        self._republish: list[str] | None = None
        self._started = False
        self._labels: list[str] = []  # the labels this host shares (its ledger)
        self.held: dict[str, str] = {}  # label → why its shared version waits
        self.last_error: str | None = None
        self._rounds = Rounds(self.tick, interval, "key sync")
        self.first_round = self._rounds.first_round

    def changed(self, label: str) -> None:
        """A key was created, edited, disabled or deleted here: publish it."""
        self._queue.add(label)
        self._rounds.wake()

    async def run(self) -> None:
        await self._rounds.run()

    def stop(self) -> None:
        """The loop ends after the round under way."""
        self._rounds.stop()

    async def tick(self) -> None:
        try:
            yaml_text, ledger = await asyncio.to_thread(read_files, self.path)
        except OSError as exc:
            log.error("key sync: cannot read %s: %s", self.path, exc)
            return
        self._labels = list(ledger.keys)
        if not self._started:
            self._started = True
            self._epoch = ledger.epoch
            self._republish = list(self._labels)
        current = entries(yaml_text)
        known: dict[str, Known] = {}
        shared: list[SharedKey] = []
        await self.records.client.recover()  # else the round trips below say Down at once
        try:
            shared += await self._publish(current, known)
            shared += await self._republish_some(current, ledger)
            epoch, pulled = await self.records.pull(self._since)
            fresh = self._saw(epoch)
            for number, key in pulled:
                if not fresh:  # read with a number of another copy: read again from 0
                    self._since = max(self._since, number)
                shared.append(key)
        except Down:
            return
        behind = bool(ledger.keys) and self._epoch != ledger.epoch  # no key shared: no ledger
        if not (shared or known or behind):
            return
        try:
            wrote = await asyncio.to_thread(self._apply, shared, current, ledger, known)
        except OSError as exc:  # a read-only config folder: shared keys cannot be kept here
            if str(exc) != self.last_error:
                log.error("key sync: cannot write beside %s: %s", self.path, exc)
            self.last_error = str(exc)
            return
        self.last_error = None
        if wrote:
            self.reload()

    async def _publish(
        self, current: dict[str, dict[str, Any]], known: dict[str, Known]
    ) -> list[SharedKey]:
        labels, self._queue = sorted(self._queue), set()
        if not labels:
            return []
        try:
            epoch, out = await self.records.put(
                [(lb, current.get(lb), -1, True, self.host) for lb in labels]
            )
        except Down:
            self._queue.update(labels)
            raise
        self._saw(epoch)
        for key in out:  # ours won (it is the newest): the file holds it
            if digest(key.entry if key.present else None) == digest(current.get(key.label)):
                known[key.label] = Known(key.stamp, digest(current.get(key.label)))
        return out

    async def _republish_some(
        self, current: dict[str, dict[str, Any]], ledger: KeysLedger
    ) -> list[SharedKey]:
        if self._republish is None:
            return []
        todo, rest = self._republish[:PULL_LIMIT], self._republish[PULL_LIMIT:]
        changes: list[Change] = []
        for label in todo:
            k = ledger.keys.get(label)
            if k is None:
                continue
            entry = current.get(label)
            if k.digest is None:
                changes.append((label, None, k.stamp[0], k.stamp[1], k.stamp[2]))
            elif digest(entry) == k.digest:
                changes.append((label, entry, k.stamp[0], k.stamp[1], k.stamp[2]))
        epoch, out = await self.records.put(changes)
        self._republish = rest or None
        if not rest:
            self._epoch = epoch
        return out

    def _saw(self, epoch: str) -> bool:
        """Which copy Redis holds: after a flush the change numbers start again (True), and this
        host republishes the keys it shares."""
        fresh = epoch != self._since_epoch
        if fresh:
            self._since_epoch, self._since = epoch, 0
        if epoch != self._epoch and self._republish is None:
            self._republish = list(self._labels)
        return fresh

    def _apply(
        self,
        shared: list[SharedKey],
        current: dict[str, dict[str, Any]],
        ledger: KeysLedger,
        known: dict[str, Known],
    ) -> bool:
        """The newer shared versions into gateway.yaml (on a worker thread); True when it was
        written."""
        keys_file = KeysFile(self.path)
        wrote = False
        for key in shared:
            mine = known.get(key.label) or ledger.keys.get(key.label)
            if mine is not None and key.stamp <= mine.stamp:
                self.held.pop(key.label, None)  # this file's version is the newest
                continue
            entry = key.entry if key.present else None
            here = digest(current.get(key.label))
            if here == digest(entry):
                known[key.label] = Known(key.stamp, here)
                self.held.pop(key.label, None)
                continue
            if (mine.digest if mine is not None else None) != here:
                self.held[key.label] = (
                    "edited here since it was shared"
                    if mine is not None
                    else "a key of that label was written here by hand"
                )
                continue
            try:
                keys_file.put_shared(key.label, entry, here)
            except KeyEditError as exc:
                self.held[key.label] = str(exc)
                continue
            current[key.label] = entry  # type: ignore[assignment]
            known[key.label] = Known(key.stamp, digest(entry))
            self.held.pop(key.label, None)
            wrote = True
        epoch = self._epoch if self._epoch != ledger.epoch else None
        if known or (epoch is not None and ledger.keys):
            record_known(self.path, known, epoch)
        return wrote


class PublishRefused(Exception):
    """Said to the person as it is; nothing was published."""


async def publish_command(cfg: GatewayConfig, labels: list[str], delete: list[str]) -> list[str]:
    """``ag2api keys publish``: share ``labels`` (every labelled key when none is named) as this
    host's gateway.yaml holds them, and delete the ``delete`` labels on every host. Returns the
    labels published."""
    sc = cfg.state
    if sc.backend != "redis" or not sc.redis_url:
        raise PublishRefused("keys are shared through Redis: set state.backend: redis")
    yaml_text, _ledger = await asyncio.to_thread(read_files, cfg.path)
    current = entries(yaml_text)
    unknown = [label for label in labels if label not in current]
    if unknown:
        raise PublishRefused(
            f"no key labelled {unknown[0]!r} in {cfg.path} (to delete a shared key on every "
            "host: --delete LABEL)"
        )
    chosen = [*(labels or ([] if delete else sorted(current))), *delete]
    host = sc.host_name or socket.gethostname()
    background: set[asyncio.Future[Any]] = set()  # the client's sends (a publish makes none)

    def spawn(work: Awaitable[Any]) -> None:
        background.add(asyncio.ensure_future(work))

    client = RedisClient(sc.redis_url, sc.key_prefix, max(sc.timeout, 5.0), spawn)
    try:
        changes: list[Change] = [
            (lb, None if lb in delete else current.get(lb), -1, True, host) for lb in chosen
        ]
        _epoch, out = await SharedKeyRecords(client).put(changes)
    except Down:
        raise PublishRefused(f"Redis at {redact_url(sc.redis_url)} does not answer") from None
    finally:
        await client.aclose()
    known = {k.label: Known(k.stamp, digest(k.entry if k.present else None)) for k in out}
    await asyncio.to_thread(record_known, cfg.path, known, None)
    return chosen
