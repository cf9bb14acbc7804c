"""Logging never blocks the event loop: records go through a bounded queue to a writer thread, a
full queue drops and counts (reported once drained), and stopping writes out what is queued."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import logging
import sys
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any
from unittest import mock

import openai
import pytest

from ag2api.accounts.model import Account
from ag2api.accounts.pool import AccountPool
from ag2api.app import serve
from ag2api.config.live import read_config
from ag2api.logs.requestlog import LOGGER as REQUEST_LOGGER
from ag2api.logs.requestlog import RequestLog
from ag2api.logs.setup import dropped_log_lines, setup_logging
from ag2api.logs.writer import LogWriter
from ag2api.services import Services
from tests.support.clients import openai_sdk
from tests.support.helpers import chat_text

WAIT = 10.0  # upper bound on waiting for an event that should come at once


class StuckSink:
    """A text stream whose first write waits for ``release``, or gives up once :meth:`expire`
    is called (as a write to a stuck pipe that times out)."""

    def __init__(self, release: threading.Event) -> None:
        self.release = release
        self.entered = threading.Event()  # the first write has begun
        self.gave_up = False  # the first write ended by timeout, not by release
        self.expired = False
        self._parts: list[str] = []
        self._changed = threading.Condition()

    def expire(self) -> None:
        """End the stuck write as a timeout would (the sinks of a test share ``release``)."""
        self.expired = True
        self.release.set()

    def write(self, text: str) -> int:
        if not self.entered.is_set():
            self.entered.set()
            self.gave_up = not self.release.wait(WAIT) or self.expired
        with self._changed:
            self._parts.append(text)
            self._changed.notify_all()
        return len(text)

    def flush(self) -> None:
        pass

    def lines(self) -> list[str]:
        with self._changed:
            return "".join(self._parts).splitlines()

    def wait_lines(self, count: int) -> bool:
        with self._changed:
            return self._changed.wait_for(lambda: len(self.lines()) >= count, WAIT)


@pytest.fixture
def release() -> Iterator[threading.Event]:
    event = threading.Event()
    yield event
    event.set()


# The handlers write to sys.stdout/sys.stderr as they are at each write, and pytest's capture
# puts its own back at the start of each test phase: the sinks are patched in within the test.
@pytest.fixture
def stdout(release: threading.Event) -> StuckSink:
    return StuckSink(release)


@pytest.fixture
def stderr(release: threading.Event) -> StuckSink:
    return StuckSink(release)


@contextlib.contextmanager
def gateway_logging(level: str, stderr: StuckSink) -> Iterator[LogWriter]:
    """The CLI's root set-up with ``stderr`` as standard error, pytest's own handlers set aside."""
    root = logging.getLogger()
    saved, saved_level = root.handlers[:], root.level
    root.handlers.clear()
    with mock.patch.object(sys, "stderr", stderr):
        writer = setup_logging(level)
        try:
            yield writer
        finally:
            writer.close()
            root.handlers[:] = saved
            root.setLevel(saved_level)


async def test_a_stuck_log_sink_does_not_stall_requests(
    client: openai.AsyncOpenAI,
    stdout: StuckSink,
    stderr: StuckSink,
    request_lines: list[dict[str, Any]],
) -> None:
    with gateway_logging("DEBUG", stderr), mock.patch.object(sys, "stdout", stdout):
        assert await chat_text(client)
        # Both sinks are now stuck in their first write: the request log's line on stdout, and
        # the per-request DEBUG lines on stderr.
        assert await asyncio.to_thread(stdout.entered.wait, WAIT)
        assert await asyncio.to_thread(stderr.entered.wait, WAIT)
        answers = await asyncio.gather(*(chat_text(client) for _ in range(5)))
        assert all(answers)
        # Served while both writes were still waiting: synchronous logging would have held the
        # loop until each gave up.
        assert not stdout.gave_up and not stderr.gave_up
        stdout.release.set()
        assert await asyncio.to_thread(stdout.wait_lines, 6)
        assert await asyncio.to_thread(stderr.wait_lines, 1)
    written = [json.loads(line) for line in stdout.lines()]
    assert len(written) == 6 and written == request_lines  # the same lines, in order, unchanged
    assert all(line["status"] == 200 and line["key"] == "tests" for line in written)
    assert any("use 1/" in line for line in stderr.lines())  # stopping wrote out the rest


def test_a_full_queue_drops_counts_and_reports_once(release: threading.Event) -> None:
    sink = StuckSink(release)
    logger = logging.getLogger("tests.offloop.overflow")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    writer = LogWriter(logger, [logging.StreamHandler(sink)], capacity=3)
    try:
        logger.info("line %d", 0)
        assert sink.entered.wait(WAIT)  # the writer holds line 0; the queue is empty
        for n in range(1, 9):
            logger.info("line %d", n)  # 1-3 fill the queue, 4-8 find it full
        assert writer.dropped == 5
        release.set()
        assert writer.flush(WAIT)
        assert sink.lines() == [
            "line 0",
            "line 1",
            "line 2",
            "line 3",
            "5 log lines dropped while the log sink was blocked",
        ]
        logger.info("line %d", 9)
        assert writer.flush(WAIT)
        assert sink.lines()[-1] == "line 9"  # reported once, not again
        assert writer.dropped == 5
    finally:
        writer.close()


def test_request_log_drops_are_reported_on_the_message_log(
    stdout: StuckSink, caplog: pytest.LogCaptureFixture
) -> None:
    with mock.patch.object(sys, "stdout", stdout):
        _drops_are_reported(stdout, caplog)


def _drops_are_reported(stdout: StuckSink, caplog: pytest.LogCaptureFixture) -> None:
    requests = RequestLog(None, 0, 0, capacity=2)
    try:
        requests.write({"n": 0})
        assert stdout.entered.wait(WAIT)
        for n in range(1, 6):
            requests.write({"n": n})
        assert requests.dropped == 3 and dropped_log_lines() == 3
        with caplog.at_level(logging.WARNING, "ag2api.logs"):
            stdout.release.set()
            assert requests.writer.flush(WAIT)
        # The JSON lines stay JSON; the count goes to the operational log.
        assert [json.loads(line) for line in stdout.lines()] == [{"n": 0}, {"n": 1}, {"n": 2}]
        reports = [r.getMessage() for r in caplog.records if r.name == "ag2api.logs"]
        assert reports == ["3 log lines dropped while the log sink was blocked"]
    finally:
        requests.close()


async def test_stopping_writes_out_every_queued_line(
    config_path: Path, tmp_path: Path, stdout: StuckSink, stderr: StuckSink
) -> None:
    log_file = tmp_path / "requests.log"
    cfg = read_config(config_path, environ={})
    cfg = replace(
        cfg,
        server=replace(cfg.server, port=0),
        observability=replace(cfg.observability, request_log_file=log_file),
    )
    stop = asyncio.Event()

    async def traffic(_services: Services, port: int) -> None:
        client = openai_sdk(f"http://127.0.0.1:{port}")
        for _ in range(5):
            assert await chat_text(client)
        await client.close()
        assert stdout.entered.is_set() and not stdout.gave_up  # still stuck in its first write
        stop.set()
        # Stopping has to wait for the stuck sinks; a moment later their writes time out.
        threading.Timer(0.2, lambda: (stdout.expire(), stderr.expire())).start()

    with gateway_logging("DEBUG", stderr), mock.patch.object(sys, "stdout", stdout):
        assert await serve(cfg, stop=stop, on_ready=traffic) == 0
        # Nothing released the sinks: stopping waited for them, then wrote every queued line.
        assert stdout.gave_up
        on_disk = log_file.read_text().splitlines()
        assert len(on_disk) == 5 and on_disk == stdout.lines()
        assert all(json.loads(line)["status"] == 200 for line in on_disk)
    # The CLI closes the root writer last: the gateway's last message is written too.
    assert stderr.gave_up and stderr.lines()[-1].endswith(": stopped")


def test_the_per_request_rotation_line_is_debug(caplog: pytest.LogCaptureFixture) -> None:
    pool = AccountPool([Account("proj-alpha-0001", "r")], 3)
    with caplog.at_level(logging.INFO, "ag2api.accounts"):
        pool.acquire()
    assert not caplog.records
    with caplog.at_level(logging.DEBUG, "ag2api.accounts"):
        pool.acquire()
    assert [r.getMessage() for r in caplog.records] == ["project proj…0001 use 2/3"]


def test_request_log_lines_are_written_in_batches(release: threading.Event) -> None:
    """A burst of request-log lines costs a few writes, not one write and flush per line."""
    release.set()  # this sink never blocks: it counts writes
    sink = StuckSink(release)
    logger = logging.getLogger(REQUEST_LOGGER)
    others = logger.handlers[:]  # pytest's capture handlers: only the writer listens in production
    logger.handlers.clear()
    try:
        with mock.patch.object(sys, "stdout", sink):
            requests = RequestLog(None, 0, 0)
            for n in range(200):
                requests.write({"n": n})
            assert requests.writer.flush(WAIT)
            requests.close()
        assert [json.loads(line) for line in sink.lines()] == [{"n": n} for n in range(200)]
        assert len(sink._parts) <= 10  # per line it was 200 writes (and 200 flushes)
    finally:
        logger.handlers[:] = others


def test_a_standard_stream_closed_under_the_writer_is_no_logging_error(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A stream replaced and closed meanwhile (pytest's capture between tests, under xdist) is
    not written to: the line goes to the current one, with no "--- Logging error ---"."""
    before, now, errors = io.StringIO(), io.StringIO(), io.StringIO()
    with mock.patch.object(sys, "stdout", before), mock.patch.object(sys, "stderr", errors):
        requests = RequestLog(None, 0, 0)
        try:
            before.close()
            with mock.patch.object(sys, "stdout", now):
                requests.write({"n": 1})
                assert requests.writer.flush(WAIT)
        finally:
            requests.close()
    assert json.loads(now.getvalue()) == {"n": 1}
    assert "Logging error" not in errors.getvalue() + capsys.readouterr().err
