"""One JSON line per request, to standard output and optionally a rotating file."""

from __future__ import annotations

import logging
import logging.handlers
import sys
from pathlib import Path
from typing import Any

from ag2api.jsoncodec import dumps_bytes

LOGGER = "ag2api.requests"


class RequestLog:
    def __init__(self, file: Path | None, max_bytes: int, backups: int) -> None:
        self.logger = logging.getLogger(LOGGER)
        self.logger.propagate = False  # its own lines, not repeated by the root handler
        self.logger.setLevel(logging.INFO)
        self._handlers: list[logging.Handler] = [logging.StreamHandler(sys.stdout)]
        if file is not None:
            file.parent.mkdir(parents=True, exist_ok=True)
            self._handlers.append(
                logging.handlers.RotatingFileHandler(
                    file, maxBytes=max_bytes, backupCount=backups, encoding="utf-8"
                )
            )
        for handler in self._handlers:
            handler.setFormatter(logging.Formatter("%(message)s"))
            self.logger.addHandler(handler)

    def write(self, line: dict[str, Any]) -> None:
        if self.logger.isEnabledFor(logging.INFO):
            self.logger.info("%s", dumps_bytes(line).decode("utf-8"))

    def close(self) -> None:
        for handler in self._handlers:
            self.logger.removeHandler(handler)
            handler.close()
