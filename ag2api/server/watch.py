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
import logging
import os
from collections.abc import Callable
from pathlib import Path

import watchfiles

from ag2api.config.live import LiveConfig
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


class FileWatcher:
    def __init__(self, live: LiveConfig, reloader: Reloader) -> None:
        self._live = live
        self._reloader = reloader
        self._task: asyncio.Task[None] | None = None
        self._restart = asyncio.Event()
        self._stopping = False
        self._settled = asyncio.Condition()
        self.batches = 0
        # Set once the file-system watch is in place (tests wait for it before editing).
        self.ready = asyncio.Event()

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

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

    async def _run(self) -> None:
        while not self._stopping:
            cfg = self._live.current
            files = {real(cfg.path): "config", real(cfg.tokens_file): "tokens"}
            folders = sorted({os.path.dirname(f) for f in files})
            for folder in folders:
                os.makedirs(folder, exist_ok=True)
            self._restart = asyncio.Event()
            seen = {path: stat_key(path) for path in files}
            log.info("watching %s for changes", ", ".join(sorted(files)))

            def ours(
                _change: watchfiles.Change, path: str, names: frozenset[str] = frozenset(files)
            ) -> bool:
                return real(path) in names

            try:
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
                        self.ready.set()  # a quiet interval: the watch is in place
                    changed = {real(path) for _, path in changes}
                    changed |= {path for path in files if stat_key(path) != seen[path]}
                    if not changed:
                        continue
                    seen.update({path: stat_key(path) for path in changed})
                    await self._apply({files[path] for path in changed})
                    if {real(self._live.current.path), real(self._live.current.tokens_file)} != (
                        set(files)
                    ):
                        break  # a file moved: watch the new places
            except Exception:
                if self._stopping:
                    return
                log.exception("file watcher failed; restarting it")
                await asyncio.sleep(1.0)

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
