"""Client keys shared between hosts: which of gateway.yaml's keys are shared, and at what version.

A key made, edited, disabled or deleted in the console (or published with ``ag2api keys
publish``) is shared: every host writes it into its own gateway.yaml (:mod:`ag2api.config.
keys_file`, comments kept). Keys a person wrote by hand stay that host's. The ledger beside
gateway.yaml (``gateway.sync.json``) records, per shared label, the version of the entry the file
holds (or of its deletion) and a hash of the entry, so a hand edit of a shared key is told from a
newer shared version (which then waits, and is reported)::

    {"ledger": 1, "epoch": "<the Redis copy>",
     "keys": {"<label>": {"stamp": [ms, "host", "p"], "digest": "<hash>" | null}}}

An entry crosses Redis as ``{"key": "sha256:<hex>", "policy": {...} | null}``: a key written in
plain in one host's file is shared as its hash, never as the key.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ag2api.config.schema import HASH_PREFIX

LEDGER_VERSION = 1


def ledger_path(config_path: Path) -> Path:
    return config_path.with_name(config_path.stem + ".sync.json")


def _jsonable(value: Any) -> Any:
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def as_hash(key: str) -> str:
    return (
        key
        if key.startswith(HASH_PREFIX)
        else HASH_PREFIX + hashlib.sha256(key.encode()).hexdigest()
    )


def entry_of(item: Any) -> tuple[str, dict[str, Any]] | None:
    """(label, entry as shared) of one ``api_keys`` item; None for one without a label (key-N:
    its name shifts with the list, it cannot be shared by it)."""
    if not isinstance(item, Mapping) or not isinstance(item.get("key"), str):
        return None
    label = item.get("label")
    if not isinstance(label, str) or not label.strip():
        return None
    policy = item.get("policy")
    return label.strip(), {
        "key": as_hash(item["key"]),
        "policy": _jsonable(policy) if isinstance(policy, Mapping) else None,
    }


def entries(text: str) -> dict[str, dict[str, Any]]:
    """The labelled keys of a gateway.yaml, as shared: label → ``{"key", "policy"}``. A file that
    does not parse has none (the gateway refuses it too)."""
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError:
        return {}
    keys = doc.get("api_keys") if isinstance(doc, dict) else None
    found = (entry_of(item) for item in (keys if isinstance(keys, list) else ()))
    return dict(e for e in found if e is not None)


def digest(entry: dict[str, Any] | None) -> str | None:
    if entry is None:
        return None
    text = json.dumps(entry, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Known:
    """A shared label as the file holds it: the version, and the entry's hash (None: deleted)."""

    stamp: tuple[int, bool, str]  # (ms, person, host): ordered like accounts' stamps
    digest: str | None


@dataclass
class KeysLedger:
    keys: dict[str, Known] = field(default_factory=dict)
    epoch: str | None = None

    def text(self) -> str:
        out = {
            label: {
                "stamp": [k.stamp[0], k.stamp[2], "p" if k.stamp[1] else "g"],
                "digest": k.digest,
            }
            for label, k in sorted(self.keys.items())
        }
        return (
            json.dumps({"ledger": LEDGER_VERSION, "epoch": self.epoch, "keys": out}, indent=1)
            + "\n"
        )


def parse_keys_ledger(data: bytes | None) -> KeysLedger:
    """The ledger from its bytes; a missing or broken one knows no shared key."""
    try:
        raw = json.loads(data) if data is not None else None
    except ValueError:
        raw = None
    if not isinstance(raw, dict) or not isinstance(raw.get("keys"), dict):
        return KeysLedger()
    ledger = KeysLedger(epoch=raw.get("epoch") if isinstance(raw.get("epoch"), str) else None)
    for label, item in raw["keys"].items():
        stamp = item.get("stamp") if isinstance(item, dict) else None
        if not isinstance(stamp, list) or len(stamp) < 3 or not isinstance(stamp[0], int):
            continue
        d = item.get("digest")
        ledger.keys[str(label)] = Known(
            (stamp[0], stamp[2] == "p", str(stamp[1])), d if isinstance(d, str) else None
        )
    return ledger
