"""How the shared account list is held in Redis: one hash per account, written and read by the
scripts of :mod:`ag2api.state.redis.sync_scripts`.

``acct:<account>`` hash: ``name`` (the project id), and per shared field ``s:<name>`` its stamp
(``<ms>|<p|g>|<host>``) and ``x:<name>`` its value as JSON; ``s:added`` and ``s:gone`` (the
tombstone). A refresh token, and a proxy carrying a password, are stored sealed with the key
(``enc:v1:``) and never without one. ``accts`` zset account → change number (``accts:seq``
counts them), ``accts:epoch`` names this copy of the list (a flushed Redis gets a new one),
``accts:gone`` zset account → removal time, ``accts:hosts`` hash host → last seen.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

from ag2api.accounts.crypto import CannotDecrypt, TokenCipher, is_sealed
from ag2api.accounts.ledger import SECRET_FIELD, SHARED_FIELDS, Stamp
from ag2api.accounts.sync_merge import SharedProject
from ag2api.state.base import HostSeen, account_key
from ag2api.state.redis.client import RedisClient, pairs, text

CHUNK = 50  # accounts per script run
# One entry of a published account: name, ms (-1: Redis' now), person, host, value ('' for the
# ``added``/``gone`` stamps).
Entry = tuple[str, int, bool, str, str]


def parse_stamp(raw: str | None) -> Stamp | None:
    if not raw:
        return None
    ms, _, rest = raw.partition("|")
    kind, _, host = rest.partition("|")
    return Stamp(int(ms), kind == "p", host) if ms.isdigit() else None


def normalise(name: str, value: Any) -> Any:
    """A shared field's value as tokens.json's reader sees it."""
    if name == "enabled":
        return value is not False
    if name == "use_credits":
        return value if isinstance(value, bool) else None
    return value if isinstance(value, str) and value else None


def _secret(name: str, value: Any) -> bool:
    """Values that cross Redis only sealed: refresh tokens, proxies carrying credentials."""
    if name == SECRET_FIELD:
        return True
    return name == "proxy" and isinstance(value, str) and "@" in value.split("://", 1)[-1]


@dataclass(frozen=True)
class Pulled:
    now_ms: int
    epoch: str  # '' when Redis holds none (empty, or flushed)
    hosts: tuple[HostSeen, ...]
    projects: list[tuple[int, SharedProject]]  # (change number, project), oldest first


class AccountRecords:
    def __init__(self, client: RedisClient, cipher: TokenCipher) -> None:
        self.client = client
        self.cipher = cipher

    # -- values -------------------------------------------------------------------------
    def encode(self, name: str, value: Any) -> str | None:
        """The value as Redis holds it; None: not shared (a secret, and no key)."""
        if _secret(name, value):
            if not self.cipher.enabled:
                return None
            value = self.cipher.seal(value, name)
        return json.dumps(value)

    def decode(self, h: dict[str, str]) -> SharedProject | None:
        pid = h.get("name")
        if not pid:
            return None
        fields: dict[str, tuple[Stamp, Any]] = {}
        for name in SHARED_FIELDS:
            stamp, raw = parse_stamp(h.get("s:" + name)), h.get("x:" + name)
            if stamp is None or raw is None:
                continue
            try:
                value = json.loads(raw)
                if is_sealed(value):
                    value = self.cipher.open(value, name)
            except (ValueError, CannotDecrypt):
                continue  # not readable here (no key, or another one)
            fields[name] = (stamp, normalise(name, value))
        added, gone = parse_stamp(h.get("s:added")), parse_stamp(h.get("s:gone"))
        return SharedProject(pid, added, gone, fields)

    # -- Redis --------------------------------------------------------------------------
    async def put(self, batch: dict[str, list[Entry]]) -> tuple[str, int, list[SharedProject]]:
        """Publish ``batch`` (project id → entries; empty still makes a flushed Redis a new
        epoch); returns the epoch, Redis' time and the accounts as Redis now holds them."""
        items = list(batch.items())
        epoch, now, out = "", 0, []
        for i in range(0, max(1, len(items)), CHUNK):
            epoch, now, projects = await self._put_chunk(items[i : i + CHUNK])
            out += projects
        return epoch, now, out

    async def _put_chunk(
        self, items: list[tuple[str, list[Entry]]]
    ) -> tuple[str, int, list[SharedProject]]:
        args: list[str | int] = [self.client.key("acct", ""), uuid.uuid4().hex, len(items)]
        for pid, entries in items:
            args += [account_key(pid), pid, len(entries)]
            for name, ms, person, host, value in entries:
                args += [name, ms, "p" if person else "g", host, value]
        names = ("accts",), ("accts", "seq"), ("accts", "epoch"), ("accts", "gone")
        keys = [self.client.key(*name) for name in names]
        script = self.client.scripts["versioned_put"]
        res = await self.client.bounded(lambda: script(keys=keys, args=args))
        projects = [p for item in res[2:] if (p := self.decode(pairs(item[1]))) is not None]
        return text(res[0]), int(res[1]), projects

    async def pull(self, since: int, limit: int, host: str, pending: int) -> Pulled:
        """The accounts changed after change number ``since``; notes this host as seen."""
        report = json.dumps({"pending": pending})
        args: list[str | int] = [self.client.key("acct", ""), since, limit, host, report]
        names = ("accts",), ("accts", "epoch"), ("accts", "hosts")
        keys = [self.client.key(*name) for name in names]
        script = self.client.scripts["versioned_pull"]
        res = await self.client.bounded(lambda: script(keys=keys, args=args))
        hosts = tuple(_host(name, value) for name, value in sorted(pairs(res[2]).items()))
        projects = []
        for item in res[3:]:
            project = self.decode(pairs(item[2]))
            if project is not None:
                projects.append((int(float(text(item[1]))), project))
        return Pulled(int(res[0]), text(res[1]), hosts, projects)

    async def purge(self, keep_ms: int, limit: int = 100) -> int:
        """Tombstones (and hosts) older than ``keep_ms`` go."""
        names = ("accts",), ("accts", "gone"), ("accts", "hosts")
        keys = [self.client.key(*name) for name in names]
        args: list[str | int] = [self.client.key("acct", ""), keep_ms, limit]
        script = self.client.scripts["versioned_purge"]
        return int(await self.client.bounded(lambda: script(keys=keys, args=args)))


def _host(name: str, value: str) -> HostSeen:
    ms, _, report = value.partition("|")
    try:
        pending = int(json.loads(report).get("pending", 0))
    except (ValueError, AttributeError):
        pending = 0
    return HostSeen(name, int(ms) / 1000.0 if ms.isdigit() else 0.0, pending)
