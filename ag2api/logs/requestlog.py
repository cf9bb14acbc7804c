"""One JSON line per request, to standard output and optionally a rotating file, written off the
event loop (:mod:`ag2api.logs.writer`)."""

from __future__ import annotations

import logging
import logging.handlers
import os
import stat
from collections import deque
from pathlib import Path
from typing import Any

from ag2api.jsoncodec import dumps_bytes
from ag2api.logs.writer import QUEUE_CAPACITY, LogWriter, StandardStream, report_to_log

LOGGER = "ag2api.requests"
RECENT = 100  # client requests kept for the console's overview (metadata only, never bodies)
log = logging.getLogger("ag2api.logs")


class PrivateRotatingFileHandler(logging.handlers.RotatingFileHandler):
    """The request log names each client key's requests: its files are readable by their owner
    only. Each new file (at start, at every rotation) is created 0600, and the files already
    there get that mode at start."""

    def __init__(self, filename: Path, max_bytes: int, backups: int) -> None:
        for existing in (filename, *(Path(f"{filename}.{n}") for n in range(1, backups + 1))):
            try:
                if existing.exists() and stat.S_IMODE(existing.stat().st_mode) != 0o600:
                    existing.chmod(0o600)
                    log.info("%s was readable by others: its mode is now 0600", existing)
            except OSError as exc:  # not ours to change: writing may still work
                log.warning("cannot make %s private (mode 0600): %s", existing, exc.strerror)
        super().__init__(filename, maxBytes=max_bytes, backupCount=backups, encoding="utf-8")

    def _open(self) -> Any:
        fd = os.open(self.baseFilename, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        return open(fd, self.mode, encoding=self.encoding, errors=self.errors)


class RequestLog:
    def __init__(
        self, file: Path | None, max_bytes: int, backups: int, *, capacity: int = QUEUE_CAPACITY
    ) -> None:
        self.logger = logging.getLogger(LOGGER)
        self.logger.propagate = False  # its own lines, not repeated by the root handler
        self.logger.setLevel(logging.INFO)
        handlers: list[logging.Handler] = [StandardStream("stdout")]
        if file is not None:
            file.parent.mkdir(parents=True, exist_ok=True)
            handlers.append(PrivateRotatingFileHandler(file, max_bytes, backups))
        for handler in handlers:
            handler.setFormatter(logging.Formatter("%(message)s"))
        # Drops are reported on standard error: a text line would break the JSON lines.
        self.writer = LogWriter(self.logger, handlers, capacity=capacity, report=report_to_log)
        # The latest client requests' lines (generation and images), newest last.
        self.recent: deque[dict[str, Any]] = deque(maxlen=RECENT)

    @property
    def dropped(self) -> int:
        """Request-log lines lost to a full queue while standard output or the file was stuck."""
        return self.writer.dropped

    def write(self, line: dict[str, Any]) -> None:
        logger = self.logger
        if not logger.isEnabledFor(logging.INFO):
            return
        text = dumps_bytes(line).decode("utf-8")
        if len(logger.handlers) == 1:
            # Only the writer listens: hand it the line; the record is built on its thread.
            self.writer.put(text)
        else:
            logger.info("%s", text)  # other handlers too (tests, an embedding program)

    def close(self) -> None:
        """Writes out every queued line, then closes stdout's handler and the file."""
        self.writer.close()
