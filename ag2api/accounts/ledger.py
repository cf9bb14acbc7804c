"""The versions of tokens.json's shared fields: ``tokens.sync.json`` beside tokens.json.

With several hosts sharing one pool through Redis, each host keeps its own tokens.json in the
original format; this sidecar records, per project and per shared field, the version of the value
the file holds (a :class:`Stamp`: Redis time in ms, the host, whether a person made it) and a hash
of that value. Comparing the file with it tells a change made here (by hand, ``ag2api login``,
``accounts import``, the console) from the values merged in from other hosts, across restarts.
It also keeps when a project was added and removed (the removal's stamp is its tombstone).

Format (``"p"``: a person's change, ``"g"``: the gateway's own, such as a runtime disable)::

    {"ledger": 1, "epoch": "<the Redis copy it was last in step with>",
     "projects": {"<project_id>": {"added": [ms, "host", "p"], "gone": [ms, "host", "p"],
                                   "fields": {"enabled": [ms, "host", "g", "<hash>"], …}}}}

It holds no secret: hashes of values (tokens.json, beside it, holds the values themselves). It is
written under tokens.json's lock, after tokens.json, with mode 0600. A missing ledger is a host's
first sync: its file's values then count as the oldest (Redis has the newer ones).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ag2api.accounts.crypto import CannotDecrypt, TokenCipher

# The fields of a project that travel between hosts (the rest — access tokens, last use,
# cooldowns, a person's own notes — stays with each host).
SHARED_FIELDS = (
    "refresh_token",
    "client_id",
    "email",
    "enabled",
    "disabled_reason",
    "proxy",
    "user_agent",
    "use_credits",
)
SECRET_FIELD = "refresh_token"
LEDGER_VERSION = 1


@dataclass(frozen=True, order=True)
class Stamp:
    """A version: Redis time (ms); on a tie a person's change beats the gateway's, then the
    host name decides, so every host orders two stamps alike."""

    version: int
    person: bool = False
    host: str = ""

    def to_json(self) -> list[Any]:
        return [self.version, self.host, "p" if self.person else "g"]

    @staticmethod
    def from_json(raw: Any) -> Stamp | None:
        if not isinstance(raw, list) or len(raw) < 3 or not isinstance(raw[0], int):
            return None
        return Stamp(raw[0], raw[2] == "p", str(raw[1]))


BASE = Stamp(0)  # a value from a host's first sync: older than any shared one


@dataclass(frozen=True)
class Versioned:
    """One field's value as the file holds it: its stamp and a hash of the value."""

    stamp: Stamp
    digest: str


@dataclass
class Entry:
    """What the ledger knows of one project."""

    added: Stamp | None = None
    gone: Stamp | None = None
    fields: dict[str, Versioned] = field(default_factory=dict)

    @property
    def present(self) -> bool:
        return self.added is not None and (self.gone is None or self.added > self.gone)

    def latest(self) -> Stamp | None:
        """The newest change this host knows of (for ``ag2api accounts``)."""
        stamps = [s for s in (self.added, self.gone) if s is not None]
        stamps += [v.stamp for v in self.fields.values()]
        return max(stamps) if stamps else None


@dataclass
class Ledger:
    projects: dict[str, Entry] = field(default_factory=dict)
    epoch: str | None = None
    # False: there was no ledger (this host's first sync).
    existed: bool = True

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for pid, entry in sorted(self.projects.items()):
            item: dict[str, Any] = {}
            if entry.added is not None:
                item["added"] = entry.added.to_json()
            if entry.gone is not None:
                item["gone"] = entry.gone.to_json()
            item["fields"] = {
                name: [*v.stamp.to_json(), v.digest] for name, v in sorted(entry.fields.items())
            }
            out[pid] = item
        return {"ledger": LEDGER_VERSION, "epoch": self.epoch, "projects": out}


def ledger_path(tokens_path: Path) -> Path:
    return tokens_path.with_name(tokens_path.stem + ".sync.json")


def parse_ledger(data: bytes | None) -> Ledger:
    """The ledger from the sidecar's bytes (None: there is none). A sidecar that does not parse
    counts as none: the file's values then yield to the shared ones, nothing is lost."""
    if data is None:
        return Ledger(existed=False)
    try:
        raw = json.loads(data)
    except ValueError:
        return Ledger(existed=False)
    if not isinstance(raw, dict) or not isinstance(raw.get("projects"), dict):
        return Ledger(existed=False)
    ledger = Ledger(epoch=raw.get("epoch") if isinstance(raw.get("epoch"), str) else None)
    for pid, item in raw["projects"].items():
        if not isinstance(item, dict):
            continue
        entry = Entry(Stamp.from_json(item.get("added")), Stamp.from_json(item.get("gone")))
        fields = item.get("fields")
        for name, value in (fields if isinstance(fields, dict) else {}).items():
            stamp = Stamp.from_json(value)
            if stamp is not None and len(value) >= 4 and isinstance(value[3], str):
                entry.fields[name] = Versioned(stamp, value[3])
        ledger.projects[str(pid)] = entry
    return ledger


def ledger_text(ledger: Ledger) -> str:
    return json.dumps(ledger.to_json(), indent=1, ensure_ascii=False) + "\n"


def read_ledger(tokens_path: Path) -> Ledger:
    """The ledger beside ``tokens_path`` (for readers such as ``ag2api accounts``)."""
    try:
        return parse_ledger(ledger_path(tokens_path).read_bytes())
    except OSError:
        return Ledger(existed=False)


# -- the shared fields' values ----------------------------------------------------------------
def digest(value: Any) -> str:
    """A short hash of a field's value (the ledger's record of what the file held)."""
    text = json.dumps(value, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class Locked(Exception):
    """The entry's refresh token cannot be opened with this host's key: it is left alone."""


def shared_values(entry: dict[str, Any], cipher: TokenCipher) -> dict[str, Any]:
    """The shared fields of a raw tokens.json project, normalised (the refresh token opened);
    raises :class:`Locked` when its token cannot be opened."""
    token = entry.get("refresh_token")
    try:
        token = cipher.open(token, SECRET_FIELD) if isinstance(token, str) else None
    except CannotDecrypt as exc:
        raise Locked() from exc
    values: dict[str, Any] = {SECRET_FIELD: token or None}
    values["enabled"] = entry.get("enabled", True) is not False
    use_credits = entry.get("use_credits")
    values["use_credits"] = use_credits if isinstance(use_credits, bool) else None
    for name in ("client_id", "email", "disabled_reason", "proxy", "user_agent"):
        value = entry.get(name)
        values[name] = value if isinstance(value, str) and value else None
    return values


def set_value(entry: dict[str, Any], name: str, value: Any) -> None:
    """Write one shared field into a raw project the way tokens.json holds it."""
    if name == "enabled":
        entry["enabled"] = value is not False
    elif name == "disabled_reason":
        entry["disabled_reason"] = value
    elif value is None:
        entry.pop(name, None)
    else:
        entry[name] = value
