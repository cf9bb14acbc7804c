"""tokens.json and its ledger read and written together, under tokens.json's lock.

Reading both under the lock gives a pair that belongs together (another process on the same file
writes them under it too). A merge re-reads both, lets the caller change them, replaces tokens.json
atomically unless it changed since it was read (then reads and merges again: a hand edit saved
meanwhile is never overwritten) and only then the ledger — so a ledger is never ahead of its
file: at worst a value merged in is found again as a local change equal to the shared one.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ag2api.accounts.crypto import TokenCipher
from ag2api.accounts.ledger import Ledger, ledger_path, ledger_text, parse_ledger
from ag2api.accounts.store import (
    FileState,
    TokensFileBusy,
    TokensFileError,
    empty_document,
    lock_for,
    seal_document,
    write_atomic,
)

WRITE_ATTEMPTS = 5
# Changes the document and the ledger; returns whether each changed, and whether the document
# got anything the running gateway does not hold yet (else it is the gateway's own write).
Merge = Callable[[dict[str, Any], Ledger], tuple[bool, bool, bool]]


@dataclass(frozen=True)
class Synced:
    """tokens.json (None: missing) and its ledger, as read together."""

    doc: dict[str, Any] | None
    ledger: Ledger
    digest: bytes = b""  # of tokens.json's bytes


def _read(path: Path) -> tuple[FileState, bytes | None]:
    try:
        with open(path, "rb") as fh:
            st = os.fstat(fh.fileno())
            data = fh.read()
    except FileNotFoundError:
        return FileState(None), None
    key = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
    return FileState(key, hashlib.sha256(data).digest()), data


def _read_ledger(path: Path) -> Ledger:
    try:
        return parse_ledger(ledger_path(path).read_bytes())
    except FileNotFoundError:
        return parse_ledger(None)


def _parse(path: Path, data: bytes) -> dict[str, Any]:
    try:
        doc = json.loads(data)
    except ValueError as exc:
        raise TokensFileError(f"{path}: invalid JSON: {exc}") from exc
    if not isinstance(doc, dict):
        raise TokensFileError(f"{path}: the top level must be an object")
    return doc


def read_synced(path: Path) -> Synced:
    """Both files, under the lock (raises TokensFileError for a file that does not parse)."""
    with lock_for(path):
        seen, data = _read(path)
        ledger = _read_ledger(path)
    return Synced(_parse(path, data) if data is not None else None, ledger, seen.digest)


def merge_file(
    path: Path,
    cipher: TokenCipher,
    change: Merge,
    *,
    create: bool = False,
    own_write: Callable[[str | None, str], None] | None = None,
) -> bool:
    """Under the lock: read both, let ``change`` update them, write tokens.json then the ledger.
    True when tokens.json was written with something the gateway does not hold yet (its pool
    must re-read it); a write of the gateway's own changes only is told to ``own_write(before,
    after)`` (sha256 hex of the file read and written) first. A missing tokens.json is started
    empty only with ``create``."""
    with lock_for(path):
        for _attempt in range(WRITE_ATTEMPTS):
            seen, data = _read(path)
            if data is None and not create:
                return False
            doc = _parse(path, data) if data is not None else empty_document()
            ledger = _read_ledger(path)
            doc_changed, ledger_changed, foreign = change(doc, ledger)
            if doc_changed:
                seal_document(doc, cipher)
                text = json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
                if own_write is not None and not foreign:
                    after = hashlib.sha256(text.encode("utf-8")).hexdigest()
                    own_write(seen.digest.hex() if seen.key is not None else None, after)
                if not write_atomic(path, text, unless_changed_from=seen):
                    continue  # saved meanwhile: merge into what it holds now
            if doc_changed or ledger_changed:
                write_atomic(ledger_path(path), ledger_text(ledger))
            return doc_changed and foreign
    raise TokensFileBusy(f"{path} kept changing while being merged; not overwriting it")
