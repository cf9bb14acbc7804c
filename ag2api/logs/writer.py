"""Log records reach their sinks through a bounded queue and one writer thread, so the event loop
never waits on standard error, standard output or a log file.

The caller's side only formats the message (``QueueHandler.prepare``) and puts the record on the
queue without waiting; a ready line (the JSON request log) goes on as a plain string and becomes a
record on the writer's thread. The queue is a ``SimpleQueue`` (no lock or condition to take per
line, which cost the loop ~5 % of a request with ``queue.Queue``), bounded by its size: a sink
that blocks fills it; lines that find it full are dropped and counted (``LogWriter.dropped``),
and once the queue has drained the writer says how many in one WARNING line. Closing the writer
writes out what is queued first.
"""

from __future__ import annotations

import logging
import logging.handlers
import os
import queue
import sys
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

# A ready line waits this long (seconds) for others to share its write; at most this many per write.
BATCH_WAIT = 0.05
BATCH_LINES = 1000
QUEUE_CAPACITY = 50_000  # ~ a few hundred bytes each: bounded memory while a sink is stuck
CLOSE_TIMEOUT = 10.0  # a sink stuck at shutdown does not hold the process forever
DROPPED = "%d log lines dropped while the log sink was blocked"
LOGGER = "ag2api.logs"
_NOTHING: Any = object()  # "no item taken yet" (None is the stop mark)


class QueueFeed(logging.handlers.QueueHandler):
    """The handler on the logger: formats the message, enqueues, never waits for room."""

    def __init__(self, writer: LogWriter) -> None:
        super().__init__(writer.queue)
        self.writer = writer

    def enqueue(self, record: logging.LogRecord) -> None:
        self.writer.put(record)


class LogWriter:
    """Feeds ``handlers`` from ``logger`` on a thread of its own (started here, attached here).

    ``report`` is told how many records were dropped once the queue drains; by default the
    WARNING line goes to this writer's own handlers.
    """

    def __init__(
        self,
        logger: logging.Logger,
        handlers: Sequence[logging.Handler],
        *,
        capacity: int = QUEUE_CAPACITY,
        report: Callable[[int], None] | None = None,
    ) -> None:
        self.logger = logger
        self.handlers = tuple(handlers)
        # Records, ready lines (str), flush markers (Event) and the stop mark (None).
        self.queue: queue.SimpleQueue[logging.LogRecord | str | threading.Event | None] = (
            queue.SimpleQueue()
        )
        self.capacity = capacity
        self.dropped = 0  # records lost to a full queue since start (cheap to read anywhere)
        self._reported = 0
        self._drop_lock = threading.Lock()
        self._report = report or self._report_here
        self._pid = os.getpid()  # a forked child must leave the parent's queue alone
        self._closed = False
        self.handler = QueueFeed(self)
        self._thread = threading.Thread(
            target=self._run, name=f"log writer ({logger.name})", daemon=True
        )
        self._thread.start()
        logger.addHandler(self.handler)

    def put(self, item: logging.LogRecord | str) -> None:
        """Queue a record, or a ready message line; never waits (full: dropped, counted)."""
        if self.queue.qsize() >= self.capacity:
            with self._drop_lock:
                self.dropped += 1
            return
        self.queue.put(item)

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every record queued so far is written; False on timeout."""
        if not self._thread.is_alive():
            return self.queue.empty()
        marker = threading.Event()
        self.queue.put(marker)
        return marker.wait(timeout)

    def close(self, timeout: float = CLOSE_TIMEOUT) -> None:
        """Detach, write out what is queued, stop the thread and close the handlers."""
        if self._closed:
            return
        self._closed = True
        self.logger.removeHandler(self.handler)
        if os.getpid() != self._pid:
            return  # forked: the parent's thread writes these records, not a copy of them
        self.queue.put(None)
        self._thread.join(timeout)
        if self._thread.is_alive():
            return  # the sink is stuck: closing a handler would wait on the lock it holds
        for handler in self.handlers:
            handler.close()

    def _run(self) -> None:
        get, empty = self.queue.get, self.queue.empty
        item: logging.LogRecord | str | threading.Event | None = get()
        while True:
            if item is None:
                self._report_drops()
                return
            if isinstance(item, threading.Event):  # flush(): everything before it is out
                if empty():
                    self._report_drops()
                item.set()
            elif isinstance(item, str):
                item = self._write_lines(item)
                continue  # the item that ended the batch, if any
            else:
                self._handle(item)
            if empty():  # drained: the sink keeps up again
                self._report_drops()
            item = get()

    def _write_lines(self, first: str) -> logging.LogRecord | str | threading.Event | None:
        """Ready lines (the request log) go out in batches: after the first, wait a moment for
        the burst that usually follows, then write them as one record — one write and one flush
        per sink, and one wake-up of this thread, for many requests (per line they had cost the
        process about 0.3 ms of CPU per request). Returns the next item to process."""
        lines = [first]
        if BATCH_WAIT:
            time.sleep(BATCH_WAIT)
        get_nowait = self.queue.get_nowait
        following: logging.LogRecord | str | threading.Event | None = _NOTHING
        while len(lines) < BATCH_LINES:
            try:
                following = get_nowait()
            except queue.Empty:
                following = _NOTHING
                break
            if not isinstance(following, str):
                break
            lines.append(following)
            following = _NOTHING
        text = "\n".join(lines)
        self._handle(logging.LogRecord(self.logger.name, logging.INFO, "", 0, text, None, None))
        if following is _NOTHING:
            if self.queue.empty():
                self._report_drops()
            return self.queue.get()
        return following

    def _handle(self, record: logging.LogRecord) -> None:
        for handler in self.handlers:
            if record.levelno >= handler.level:
                try:
                    handler.handle(record)
                except Exception:  # a filter that raises must not end the writer
                    handler.handleError(record)

    def _report_drops(self) -> None:
        if self.dropped == self._reported:
            return
        with self._drop_lock:
            lost = self.dropped - self._reported
            self._reported = self.dropped
        try:
            self._report(lost)
        except Exception:  # pragma: no cover - a broken report hook must not end the writer
            logging.getLogger(LOGGER).exception("reporting dropped log lines failed")

    def _report_here(self, lost: int) -> None:
        record = logging.LogRecord(LOGGER, logging.WARNING, __file__, 0, DROPPED, (lost,), None)
        self._handle(record)


class StandardStream(logging.StreamHandler):
    """A handler for ``sys.stdout`` or ``sys.stderr`` as they are when a line is written, not as
    they were when it was made: whoever replaced them (a test runner capturing output, an
    embedding program) may have closed the old one since."""

    def __init__(self, name: str) -> None:
        logging.Handler.__init__(self)
        self._name = name

    @property
    def stream(self) -> Any:
        return getattr(sys, self._name)


def report_to_log(lost: int) -> None:
    """A ``report`` for writers whose sink is not for messages (the JSON request log)."""
    logging.getLogger(LOGGER).warning(DROPPED, lost)


def writers(*loggers: logging.Logger) -> list[LogWriter]:
    """The writers attached to these loggers."""
    return [h.writer for lg in loggers for h in lg.handlers if isinstance(h, QueueFeed)]
