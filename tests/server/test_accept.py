"""Connection limits, the process side: the open-file limit is raised at start, and running out
of descriptors in the accept loop pauses accepting and is logged once per interval, not per
attempt."""

from __future__ import annotations

import asyncio
import errno
import logging
import resource
import socket
from typing import Any

import pytest

from ag2api.server.http import RateLimitedLog, accept_guarded, raise_open_file_limit


def test_rate_limited_log_reports_once_per_interval_with_a_count(
    caplog: pytest.LogCaptureFixture,
) -> None:
    now = [100.0]
    limited = RateLimitedLog(logging.getLogger("test.limited"), 10.0, clock=lambda: now[0])
    caplog.set_level(logging.WARNING, "test.limited")
    for _ in range(1000):
        limited.warning("accept failed: %s", "EMFILE")
    now[0] += 9.9
    limited.warning("accept failed: %s", "EMFILE")
    assert [r.getMessage() for r in caplog.records] == ["accept failed: EMFILE"]
    now[0] += 0.2
    limited.warning("accept failed: %s", "EMFILE")
    assert caplog.records[-1].getMessage() == (
        "accept failed: EMFILE (1000 more since the last report)"
    )
    assert len(caplog.records) == 2


class ExhaustedSocket(socket.socket):
    """A listening socket whose accept() fails with EMFILE a given number of times."""

    failures = 0

    def accept(self) -> tuple[socket.socket, Any]:
        if self.failures:
            self.failures -= 1
            raise OSError(errno.EMFILE, "Too many open files")
        return super().accept()


async def test_accept_failures_pause_and_are_logged_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, "test.accept")
    listener = ExhaustedSocket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setblocking(False)
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.failures = 50
    accepted: asyncio.Future[socket.socket] = asyncio.get_running_loop().create_future()
    failures = RateLimitedLog(logging.getLogger("test.accept"), 60.0)
    remove = accept_guarded(
        listener, lambda conn, _addr: accepted.set_result(conn), failures, pause=0.001
    )
    client = socket.create_connection(listener.getsockname())
    try:
        conn = await asyncio.wait_for(accepted, 10)  # accepting resumed after the failures
        conn.close()
    finally:
        remove()
        client.close()
        listener.close()
    assert listener.failures == 0
    assert len(caplog.records) == 1  # not 50
    assert "cannot accept connections (Too many open files)" in caplog.records[0].getMessage()
    assert failures.held_back == 49


def test_open_file_limit_is_raised_to_the_hard_limit(caplog: pytest.LogCaptureFixture) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard < 256:
        pytest.skip(f"hard open-file limit {hard} leaves nothing to raise")
    caplog.set_level(logging.INFO, "ag2api")
    resource.setrlimit(resource.RLIMIT_NOFILE, (128, hard))
    try:
        assert raise_open_file_limit() == hard
        assert resource.getrlimit(resource.RLIMIT_NOFILE) == (hard, hard)
        assert f"open-file limit raised from 128 to {hard}" in caplog.text
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, 128), hard))
