"""The state backends the contract tests run on: memory, and a real redis-server (the
``backend`` and ``factory`` fixtures in tests/state/conftest.py build them)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from ag2api.accounts.model import Account
from ag2api.state.base import AccountState
from tests.support.clock import FakeClock

MODEL = "gemini-2.5-flash"

Factory = Callable[..., Any]


class ShortCooldowns:
    """Waiting out a cooldown of a few ms. On the memory backend the pool runs on :attr:`clock`
    (give it to the factory), which the test moves on; Redis times cooldowns by its server's
    TIME, so there the test waits them out for real."""

    def __init__(self, backend: str) -> None:
        self.clock = FakeClock(now=time.time()) if backend == "memory" else None

    async def pass_(self, state: AccountState, account: Account, seconds: float) -> None:
        if self.clock is not None:
            self.clock.advance(seconds * 2)
            assert state.cooling_until(account, MODEL) is None
            return
        deadline = time.monotonic() + 2
        while state.cooling_until(account, MODEL) is not None and time.monotonic() < deadline:
            await asyncio.sleep(0.005)  # Redis's clock: nothing to await but time
        await asyncio.sleep(0.005)  # and past it on the server too
