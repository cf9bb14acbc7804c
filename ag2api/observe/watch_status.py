"""The hot-reload watcher as /health shows it: running or not, and why it is not watching.

The watcher (:mod:`ag2api.server.watch`) reports here; the health handler reads it. A watcher
that stopped on its own, or cannot set its watch up, means edits to gateway.yaml and tokens.json
go unapplied: /health says so instead of staying "ok". No text here names a folder.
"""

from __future__ import annotations

import time
from dataclasses import dataclass


@dataclass
class WatchStatus:
    running: bool = False
    # Why the watch is not (or not wholly) in place; None while it watches both files.
    problem: str | None = None
    problem_at: float | None = None

    def started(self) -> None:
        self.running = True

    def watching(self, problem: str | None = None) -> None:
        """The watch is in place (``problem``: what it could not watch)."""
        if problem != self.problem:
            self.problem, self.problem_at = problem, time.time() if problem else None

    def failed(self, problem: str) -> None:
        """The watch failed and is being set up again."""
        self.problem, self.problem_at = problem, time.time()

    def stopped(self, problem: str | None) -> None:
        """The watcher ended: on a stop (``problem`` None) or on its own."""
        self.running = False
        if problem is not None:
            self.problem, self.problem_at = problem, time.time()
