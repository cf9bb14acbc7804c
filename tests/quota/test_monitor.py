"""QuotaMonitor.stop(): a check still running is cancelled, so nothing is saved into a usage
store that the shutdown closes right after (which would log "cannot schedule new futures after
shutdown")."""

from __future__ import annotations

import asyncio
from typing import Any

from ag2api.quota.monitor import QuotaMonitor


async def test_stop_cancels_a_running_check_before_it_saves() -> None:
    entered, release = asyncio.Event(), asyncio.Event()
    cancelled: list[str] = []
    saved: list[str] = []

    async def fetch(project: str) -> dict[str, Any]:
        entered.set()
        try:
            await release.wait()
        except asyncio.CancelledError:
            cancelled.append(project)
            raise
        return {"models": {}}

    async def save(project: str, quotas: list[dict[str, Any]]) -> None:
        saved.append(project)

    monitor = QuotaMonitor(fetch, lambda: ["p1", "p2"], save)
    monitor.start(lambda: 3600.0)
    await entered.wait()
    await monitor.stop()
    release.set()
    await asyncio.sleep(0)  # a run left going would go on to save here
    assert cancelled == ["p1"] and saved == []
    await monitor.stop()  # twice is fine
