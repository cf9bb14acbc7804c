"""Fixtures for the live-state tests: the backends the contract runs on (the shared real Redis and
the key prefix per test are in tests/conftest.py; a Redis of a test's own in redis/conftest.py)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import pytest

from ag2api.accounts.model import Account
from ag2api.accounts.pool import AccountPool
from ag2api.accounts.slots import SlotLimiter
from ag2api.state.base import AccountState
from ag2api.state.memory import MemoryState
from ag2api.state.redis.state import RedisState
from tests.support.accounts import accounts
from tests.support.state_backends import Factory, ShortCooldowns


@pytest.fixture
def factory(request: pytest.FixtureRequest, backend: str) -> Factory:
    """``async with factory(accounts, rotation=, per_account=) as state``; two states from one
    factory are two replicas of the same backend (with Redis: on the same keys)."""
    url = prefix = None
    if backend == "redis":
        url = request.getfixturevalue("redis_server").url
        prefix = request.getfixturevalue("key_prefix")

    @asynccontextmanager
    async def make(
        accts: list[Account] | None = None,
        rotation: int = 1,
        per_account: int = 8,
        total: int = 64,
        clock: Callable[[], float] | None = None,
    ) -> AsyncIterator[AccountState]:
        """``clock``: the pool's (memory only; Redis keeps time on its server)."""
        pool = AccountPool(
            accts if accts is not None else accounts(), rotation, clock=clock or time.time
        )
        slots = SlotLimiter(per_account, total)
        state: AccountState
        if backend == "memory":
            state = MemoryState(pool, slots)
        else:
            assert url is not None and prefix is not None
            state = RedisState(pool, slots, url, prefix=prefix, timeout=2.0)
        try:
            yield state
        finally:
            await state.aclose()

    return make


@pytest.fixture
def cooldowns(backend: str) -> ShortCooldowns:
    """Waiting out a few-ms cooldown: the memory pool's clock moved on, Redis's waited for."""
    return ShortCooldowns(backend)
