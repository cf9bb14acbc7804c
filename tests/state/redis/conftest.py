"""Fixtures for the Redis backend's tests (the shared redis-server of the session and the key
prefix per test are in tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.redis_server import MISSING, RedisServer, available


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A server of this test's own, for tests that kill it."""
    if not available():
        pytest.skip(MISSING)
    server = RedisServer(tmp_path / "redis")
    server.start()
    yield server
    server.stop()
