"""The client requests being served, so a shutdown can let them finish (and end the stragglers)."""

from __future__ import annotations

import asyncio
from typing import Protocol


class Abortable(Protocol):
    def abort_for_shutdown(self) -> None: ...


class OpenRequests:
    def __init__(self) -> None:
        self._open: set[Abortable] = set()
        self._idle = asyncio.Event()
        self._idle.set()

    def __len__(self) -> int:
        return len(self._open)

    def enter(self, request: Abortable) -> None:
        self._open.add(request)
        self._idle.clear()

    def leave(self, request: Abortable) -> None:
        self._open.discard(request)
        if not self._open:
            self._idle.set()

    async def wait_idle(self, timeout: float) -> bool:
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
        except TimeoutError:
            return False
        return True

    def abort_all(self) -> None:
        for request in list(self._open):
            request.abort_for_shutdown()
