"""The one watchfiles task: gateway.yaml and tokens.json changes → :class:`Reloader`.

It watches the two files' folders (editors replace files rather than write them in place) and
filters to the two paths. Changes settle for 200 ms before they are applied, so a save lands
within about a second. When the config moves tokens.json, the watch follows it.

Every half second the watch also compares the two files' (mtime, size, inode) with what it last
applied. That catches what file-system events miss — network file systems, and watchfiles' own
polling backend, which was seen here to miss a second save within the same second.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
from collections.abc import Callable
from pathlib import Path

import watchfiles

from ag2api.config.live import LiveConfig
from ag2api.redact import os_reason
from ag2api.server.reload import Reloader

log = logging.getLogger("ag2api.watch")


def real(path: Path | str) -> str:
    return os.path.realpath(path)


def stat_key(path: str) -> tuple[int, int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_mtime_ns, st.st_size, st.st_ino


# Seconds before a watch that failed is set up again (doubled while it keeps failing).
RETRY_SECONDS = 1.0
KINDS = {"config": "gateway.yaml", "tokens": "the tokens file"}


class FileWatcher:
    """Runs until :meth:`stop`. A failure of the watch itself (a folder it cannot create, the
    system's watch limit) is logged, shown on /health (``Services.watch``) and retried; if the
    task ever ends without a stop, /health says edits are not applied until a restart."""

    def __init__(self, live: LiveConfig, reloader: Reloader) -> None:
        self._live = live
        self._reloader = reloader
        self._status = reloader.services.watch
        self._task: asyncio.Task[None] | None = None
        self._restart = asyncio.Event()
        self._stopping = False
        self._settled = asyncio.Condition()
        self.batches = 0
        self._failures = 0  # in a row, for the retry's backoff
        # Set once the file-system watch is in place (tests wait for it before editing).
        self.ready = asyncio.Event()

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())
        self._task.add_done_callback(self._ended)
        self._status.started()

    async def stop(self) -> None:
        self._stopping = True
        self._restart.set()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 10.0) -> None:
        """Wait until ``predicate()`` holds after a processed change (used by tests)."""
        async with self._settled:
            await asyncio.wait_for(self._settled.wait_for(predicate), timeout)

    def _ended(self, task: asyncio.Task[None]) -> None:
        if self._stopping:
            self._status.stopped(None)
            return
        error = None if task.cancelled() else task.exception()
        why = "it was cancelled" if error is None else f"{type(error).__name__}"
        log.error("file watcher stopped (%s): edits are not applied until a restart", why)
        self._status.stopped(
            f"the file watcher stopped ({why}): edits to gateway.yaml and the tokens file are "
            "not applied until the gateway restarts (SIGHUP reloads them once)"
        )

    async def _run(self) -> None:
        while not self._stopping:
            try:
                await self._watch()
            except Exception as exc:
                if self._stopping:
                    return
                delay = RETRY_SECONDS * 2 ** min(self._failures, 6)
                if self._failures == 0:
                    log.exception("file watcher failed; setting it up again")
                else:
                    log.warning("file watcher failed again (%s); retrying in %.0fs", exc, delay)
                self._failures += 1
                self._status.failed(f"the file watch failed ({os_reason(exc)}); retrying")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._restart.wait(), delay)

    async def _watch(self) -> None:
        """Watch the two files' folders until one of the files moves (or a stop)."""
        cfg = self._live.current
        files = {real(cfg.path): "config", real(cfg.tokens_file): "tokens"}
        folders, unwatched = [], []
        for folder, kinds in _folders(files).items():
            try:
                os.makedirs(folder, exist_ok=True)
            except OSError as exc:
                # A reload refuses such a path; one in force since the start is reported here.
                log.error("cannot watch %s: %s", folder, exc)
                unwatched += [f"{KINDS[kind]} ({os_reason(exc)})" for kind in kinds]
            else:
                folders.append(folder)
        if not folders:
            raise OSError(errno.ENOENT, "neither file's folder can be watched")
        problem = f"not watching {', '.join(unwatched)}" if unwatched else None
        self._restart = asyncio.Event()
        seen = {path: stat_key(path) for path in files}
        log.info("watching %s for changes", ", ".join(sorted(files)))

        def ours(
            _change: watchfiles.Change, path: str, names: frozenset[str] = frozenset(files)
        ) -> bool:
            return real(path) in names

        async for changes in watchfiles.awatch(
            *folders,
            watch_filter=ours,
            debounce=200,
            step=50,
            stop_event=self._restart,
            force_polling=cfg.watch.force_polling,
            poll_delay_ms=300,
            recursive=False,
            rust_timeout=500,
            yield_on_timeout=True,
        ):
            if not changes:
                self._failures = 0
                self._status.watching(problem)
                self.ready.set()  # a quiet interval: the watch is in place
            changed = {real(path) for _, path in changes}
            changed |= {path for path in files if stat_key(path) != seen[path]}
            if not changed:
                continue
            seen.update({path: stat_key(path) for path in changed})
            await self._apply({files[path] for path in changed})
            if {real(self._live.current.path), real(self._live.current.tokens_file)} != set(files):
                return  # a file moved: watch the new places

    async def _apply(self, kinds: set[str]) -> None:
        try:
            if "config" in kinds:
                self._reloader.reload_config()
            if "tokens" in kinds:
                self._reloader.reload_tokens()
        finally:
            self.batches += 1
            async with self._settled:
                self._settled.notify_all()


def _folders(files: dict[str, str]) -> dict[str, list[str]]:
    """Each folder to watch → the kinds of file in it."""
    out: dict[str, list[str]] = {}
    for path, kind in sorted(files.items()):
        out.setdefault(os.path.dirname(path), []).append(kind)
    return out
