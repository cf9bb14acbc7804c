"""Replacing a file that people also edit by hand: atomically, under its lock, and never over a
change made since it was read.

Every writer takes ``<file>.lock``, reads the file, makes its change and replaces the file
atomically (temp file, fsync, rename, mode 0600). An editor does not take the lock, so just before
the rename the writer checks the file is still the one it read (inode, size, mtime, content hash)
and starts over when it is not: the window left for an unlocked save to be overwritten is that
check and the rename, and on Linux not even that (the rename is an atomic swap, and a save found
in the file swapped out is swapped back). tokens.json and gateway.yaml are written this way.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import hashlib
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from filelock import FileLock

LOCK_TIMEOUT = 10.0
# Re-read and redo the change at most this many times when the file changes under a write.
WRITE_ATTEMPTS = 5
# How long an unparsable file is given to become whole (a save in progress) before it is refused.
SAVE_SETTLE = 0.02
_AT_FDCWD = -100
_RENAME_EXCHANGE = 2


class FileBusy(OSError):
    """The file kept changing while a write was being prepared."""


class Unreadable(ValueError):
    """The file does not parse: raised by an edit, it is waited for briefly (a save may be
    half-written), then passed on; the file is never overwritten."""


@dataclass(frozen=True)
class FileState:
    """The file as read: (device, inode, size, mtime_ns) and a hash of its bytes; None: missing."""

    key: tuple[int, int, int, int] | None
    digest: bytes = b""


def lock_for(path: Path) -> FileLock:
    return FileLock(str(path) + ".lock", timeout=LOCK_TIMEOUT)


def rewrite(path: Path, edit: Callable[[bytes | None], str]) -> str:
    """Under the lock: read ``path``, let ``edit`` turn its bytes (None: missing) into the new
    text, and replace the file with it unless it changed meanwhile — then read and edit again.

    ``edit`` may run more than once, each time on what the file holds then. It raises
    :class:`Unreadable` for a file it cannot parse; any exception leaves the file as it was.
    Returns the text written.
    """
    with lock_for(path):
        for attempt in range(1, WRITE_ATTEMPTS + 1):
            seen, data = read_state(path)
            try:
                text = edit(data)
            except Unreadable:
                if attempt < WRITE_ATTEMPTS and changes_soon(path, seen):
                    continue
                raise
            if write_atomic(path, text, unless_changed_from=seen):
                return text
        raise FileBusy(f"{path} kept changing while being written; not overwriting it")


def _stat_key(st: os.stat_result) -> tuple[int, int, int, int]:
    return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns


def read_state(path: Path) -> tuple[FileState, bytes | None]:
    """The file's bytes and what they were read from; a missing file is ``(FileState(None),
    None)``, any other failure raises OSError."""
    try:
        with open(path, "rb") as fh:
            st = os.fstat(fh.fileno())
            data = fh.read()
    except FileNotFoundError:
        return FileState(None), None
    return FileState(_stat_key(st), hashlib.sha256(data).digest()), data


def unchanged(path: Path | str, seen: FileState) -> bool:
    """Is ``path`` still what was read? The content first, the (cheaper) stat last."""
    try:
        with open(path, "rb") as fh:
            if hashlib.sha256(fh.read()).digest() != seen.digest:
                return False
        return _stat_key(os.stat(path)) == seen.key
    except FileNotFoundError:
        return seen.key is None


def changes_soon(path: Path, seen: FileState) -> bool:
    time.sleep(SAVE_SETTLE)
    return not unchanged(path, seen)


def write_atomic(path: Path, text: str, unless_changed_from: FileState | None = None) -> bool:
    """Temp file in the same folder, mode 0600, fsync, rename over, fsync the folder.

    With ``unless_changed_from``, the file is replaced only if it is still as it was read;
    False when it was not, and then nothing was written.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        if unless_changed_from is None:
            os.replace(tmp, path)
        elif not _put_in_place(tmp, path, unless_changed_from):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            return False
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
    return True


def _put_in_place(tmp: str, path: Path, seen: FileState) -> bool:
    """Move ``tmp`` to ``path`` only if ``path`` is still ``seen``; False (ours not written) if not.

    Someone saving without the lock between the last check and the rename would be overwritten.
    Where the kernel can swap two names atomically (Linux), that save is not lost even then:
    after the swap the replaced file is checked once more, and a save found there is swapped
    back. Elsewhere the window is the check plus the rename.
    """
    if seen.key is None:
        try:
            os.link(tmp, path)  # created only if still missing (a link never replaces)
        except FileExistsError:
            return False
        except OSError:  # no hard links on this file system
            os.replace(tmp, path)
            return True
        os.unlink(tmp)
        return True
    if not unchanged(path, seen):
        return False
    if not exchange(tmp, path):
        os.replace(tmp, path)
        return True
    if unchanged(tmp, seen):
        os.unlink(tmp)  # what was replaced is what was read
        return True
    if not exchange(tmp, path):  # a save landed just now: put it back, ours is redone
        os.replace(tmp, path)
    return False


@functools.cache
def _renameat2() -> Any:
    try:
        fn = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    fn.restype = ctypes.c_int
    return fn


def exchange(a: str | Path, b: str | Path) -> bool:
    """Atomically swap two names (renameat2 RENAME_EXCHANGE); False where not supported."""
    fn = _renameat2()
    if fn is None:
        return False
    return fn(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0
