"""The quota monitor: it checks every account again each interval (the interval read anew
each time); stop() cancels a check still running, so nothing is saved into a usage store that
the shutdown closes right after (which would log "cannot schedule new futures after
shutdown"); the demo shows quota left on every model it serves."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from ag2api.config.schema import GatewayConfig
from ag2api.demo import start_demo_upstream
from ag2api.quota.monitor import QuotaMonitor
from ag2api.quota.wire import reset_in
from ag2api.services import Services, build_services
from ag2api.testing.fake_upstream import FakeUpstream
from tests.support.files import DEFAULT_ACCOUNTS


async def test_every_account_is_checked_again_each_interval(
    fake: FakeUpstream, services: Services
) -> None:
    slept: asyncio.Queue[float] = asyncio.Queue()
    wake = asyncio.Event()

    async def sleep(seconds: float) -> None:
        slept.put_nowait(seconds)
        await wake.wait()
        wake.clear()

    def checks() -> list[str]:
        return sorted(r.body["project"] for r in fake.requests if "fetchAvailableModels" in r.path)

    interval = [300.0]
    services.quota.start(lambda: interval[0], sleep=sleep)
    try:
        assert await slept.get() == 300.0
        once = sorted(project for _, project in DEFAULT_ACCOUNTS)
        assert checks() == once  # one check each, then a wait of one interval
        interval[0] = 60.0  # as a reload of observability.quota_refresh_seconds would
        wake.set()
        assert await slept.get() == 60.0
        assert checks() == sorted(once * 2)  # the interval over: every account checked again
    finally:
        await services.quota.stop()


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


async def test_the_demo_shows_quota_left_on_every_model_and_a_reset_ahead(tmp_path: Path) -> None:
    """`ag2api --demo`: every model answers, so none is shown at 0 %, and no reset time is
    already past ("resets in 0h00m")."""
    cfg = GatewayConfig(path=tmp_path / "gateway.yaml")
    demo_cfg, fake, _ = await start_demo_upstream(cfg, tmp_path)
    services = build_services(demo_cfg)
    try:
        await services.quota.refresh()
        assert len(services.quota.book.accounts) == 2
        for checked in services.quota.book.accounts.values():
            quotas = checked.models
            assert {q.model for q in quotas} >= {"gemini-2.5-flash", "claude-sonnet-4-5-thinking"}
            for q in quotas:
                assert q.remaining > 0, q
                assert reset_in(q.reset_time) not in ("0h00m", "-"), q
    finally:
        await services.aclose()
        await fake.stop()
