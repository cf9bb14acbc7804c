"""Per-account quota from fetchAvailableModels, refreshed on a timer and on demand."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

log = logging.getLogger("ag2api.quota")


@dataclass(frozen=True)
class ModelQuota:
    model: str
    remaining: float  # 0..1; a missing fraction with a reset time means exhausted
    reset_time: str | None

    def to_json(self) -> dict[str, Any]:
        return {"model": self.model, "remaining": self.remaining, "reset_time": self.reset_time}


def parse_quota(body: dict[str, Any]) -> list[ModelQuota]:
    models = body.get("models")
    out: list[ModelQuota] = []
    if not isinstance(models, dict):
        return out
    for model, info in sorted(models.items()):
        quota = info.get("quotaInfo") if isinstance(info, dict) else None
        if not isinstance(quota, dict) or info.get("isInternal"):
            continue
        fraction = quota.get("remainingFraction")
        reset = quota.get("resetTime") if isinstance(quota.get("resetTime"), str) else None
        if not isinstance(fraction, int | float):
            if reset is None:
                continue
            fraction = 0.0  # proto3 omits zero: only resetTime means exhausted
        out.append(ModelQuota(model, max(0.0, min(1.0, float(fraction))), reset))
    return out


def reset_in(reset_time: str | None, now: float | None = None) -> str:
    if not reset_time:
        return "-"
    try:
        at = datetime.datetime.fromisoformat(reset_time.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return reset_time
    left = max(0, int(at - (now or time.time())))
    return f"{left // 3600}h{left % 3600 // 60:02d}m"


class QuotaMonitor:
    """Keeps ``snapshots[project_id] = (checked_at, [ModelQuota])``."""

    def __init__(
        self,
        fetch: Callable[[str], Awaitable[dict[str, Any]]],
        projects: Callable[[], list[str]],
        save: Callable[[str, list[dict[str, Any]]], Awaitable[None]],
    ) -> None:
        self._fetch = fetch
        self._projects = projects
        self._save = save
        self.snapshots: dict[str, tuple[float, list[ModelQuota]]] = {}
        self._task: asyncio.Task[None] | None = None
        self._running: asyncio.Future[None] | None = None

    def remaining(self, project_id: str, model: str) -> float | None:
        """The account's quota fraction left for ``model`` as last checked; None: unknown."""
        _, quotas = self.snapshots.get(project_id, (0.0, []))
        return next((q.remaining for q in quotas if q.model == model), None)

    async def refresh(self) -> None:
        """Check every enabled account now (concurrent refreshes share one run)."""
        if self._running is None:
            self._running = asyncio.ensure_future(self._refresh_all())
        running = self._running
        try:
            await asyncio.shield(running)
        finally:
            if running.done():
                self._running = None

    async def _refresh_all(self) -> None:
        for project in self._projects():
            try:
                await self.check(project)
            except Exception as exc:  # one account's failure must not stop the others
                log.warning("quota check failed for an account: %s", exc)

    async def check(self, project: str) -> list[ModelQuota]:
        """Check one account now (the console's "recheck"); raises what the call raised."""
        quotas = parse_quota(await self._fetch(project))
        self.snapshots[project] = (time.time(), quotas)
        await self._save(project, [q.to_json() for q in quotas])
        return quotas

    def start(self, interval: Callable[[], float]) -> None:
        async def loop() -> None:
            while True:
                await self.refresh()
                await asyncio.sleep(interval())

        self._task = asyncio.ensure_future(loop())

    async def stop(self) -> None:
        # The shielded run too: left going, it would save into a usage store closed after us.
        for task in (self._task, self._running):
            if task is not None:
                task.cancel()
                # Whatever the check ended with, the stop goes on.
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        self._task = self._running = None
