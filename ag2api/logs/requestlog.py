"""One JSON line per request, to standard output and optionally a rotating file, written off the
event loop (:mod:`ag2api.logs.writer`)."""

from __future__ import annotations

import logging
import logging.handlers
import sys
from collections import deque
from pathlib import Path
from typing import Any

from ag2api.jsoncodec import dumps_bytes
from ag2api.logs.writer import QUEUE_CAPACITY, LogWriter, report_to_log

LOGGER = "ag2api.requests"
RECENT = 100  # client requests kept for the console's overview (metadata only, never bodies)


class RequestLog:
    def __init__(
        self, file: Path | None, max_bytes: int, backups: int, *, capacity: int = QUEUE_CAPACITY
    ) -> None:
        self.logger = logging.getLogger(LOGGER)
        self.logger.propagate = False  # its own lines, not repeated by the root handler
        self.logger.setLevel(logging.INFO)
        handlers: list[logging.Handler] = [logging.StreamHandler(sys.stdout)]
        if file is not None:
            file.parent.mkdir(parents=True, exist_ok=True)
            handlers.append(
                logging.handlers.RotatingFileHandler(
                    file, maxBytes=max_bytes, backupCount=backups, encoding="utf-8"
                )
            )
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
