"""The ``ag2api`` command as a person runs it, in a subprocess: :class:`Cli` for one that keeps
running (read its output as it comes), :func:`ag2api` for one that finishes."""

from __future__ import annotations

import asyncio
import os
import queue
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without AG2API_* variables, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AG2API_")}
    return {**env, **extra}


class Cli:
    """`python -m ag2api ...` in a subprocess, its output collected by a reader thread."""

    def __init__(
        self,
        *args: str,
        cwd: Path = ROOT,
        env: dict[str, str] | None = None,
        module: str = "ag2api",
    ) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", module, *args],
            cwd=cwd,
            env=clean_env(**(env or {})),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.seen = ""
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def wait_for(self, pattern: str, seconds: float = 20) -> str:
        deadline = time.monotonic() + seconds
        while not re.search(pattern, self.seen):
            line = self.lines.get(timeout=max(0.01, deadline - time.monotonic()))
            assert line is not None, f"exited before {pattern!r}:\n{self.seen}"
            self.seen += line
        return self.seen

    def finish(self, sig: int | None = None) -> str:
        if sig is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
        self.proc.wait(timeout=20)
        while (line := self.lines.get(timeout=20)) is not None:
            self.seen += line
        assert self.proc.stdout is not None
        self.proc.stdout.close()
        return self.seen


async def ag2api(*args: str) -> tuple[int, str]:
    """Run the ``ag2api`` command; (exit code, output)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "ag2api",
        *args,
        cwd=ROOT,
        env=clean_env(),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out = (await proc.communicate())[0].decode()
    return proc.returncode or 0, out
