"""Logging set-up: operational messages to standard error through an off-loop writer (no
secrets, ever)."""

from __future__ import annotations

import logging

from ag2api.logs.requestlog import LOGGER as REQUEST_LOGGER
from ag2api.logs.writer import LogWriter, StandardStream, writers

FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
DATEFMT = "%Y-%m-%dT%H:%M:%S"


def setup_logging(level: str) -> LogWriter:
    """Root handler: standard error, written by a thread of its own. Close the returned writer
    when the process stops (it writes out what is queued). Called again in a forked worker, it
    leaves the parent's writer to the parent and starts the worker's own."""
    root = logging.getLogger()
    for old in writers(root):
        old.close()
    stderr = StandardStream("stderr")
    stderr.setFormatter(logging.Formatter(FORMAT, DATEFMT))
    writer = LogWriter(root, [stderr])
    root.setLevel(level)
    # Tornado's own access log would repeat ours.
    logging.getLogger("tornado.access").setLevel(logging.WARNING)
    # At DEBUG the curl client turns on libcurl's verbose trace, which prints every request
    # header — Authorization: Bearer <access token> included. Never let it.
    logging.getLogger("tornado.curl_httpclient").setLevel(logging.INFO)
    return writer


def flush_logs(timeout: float = 5.0) -> None:
    """Wait until the root writer is idle (before a fork: no write in progress to inherit)."""
    for writer in writers(logging.getLogger()):
        writer.flush(timeout)


def dropped_log_lines() -> int:
    """Log lines lost to a full queue while a sink was blocked (root and request log)."""
    loggers = (logging.getLogger(), logging.getLogger(REQUEST_LOGGER))
    return sum(writer.dropped for writer in writers(*loggers))
