"""Replicas: whole gateways in this process sharing one Redis (:mod:`tests.support.gateways`),
and waiting for what one replica learns from another."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

from ag2api.config.schema import GatewayConfig
from tests.support.gateways import Gateway, gateways

MODEL = "gemini-2.5-flash"


def state_config(url: str, prefix: str, **extra: Any) -> dict[str, Any]:
    return {
        "state": {
            "backend": "redis",
            "redis_url": url,
            "key_prefix": prefix,
            "sync_seconds": 0.1,
            "timeout": 1.0,  # generous: a loaded CI machine must not fall back by accident
            **extra,
        }
    }


def replicas(
    config_path: Path,
    n: int = 2,
    host: Callable[[GatewayConfig, int], GatewayConfig] | None = None,
) -> AbstractAsyncContextManager[list[Gateway]]:
    """``n`` gateways on the config (two by default); ``host`` adapts it per replica."""
    return gateways(config_path, n, host)


async def eventually(check: Callable[[], Any], within: float = 5.0) -> None:
    """Poll ``check`` (no event exists for another process's state) until true or the deadline."""
    deadline = time.monotonic() + within
    while not await _true(check()):
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


async def leader_of(group: list[Gateway]) -> tuple[Gateway, Gateway]:
    """(the elected tokens.json writer, the other) of two replicas."""
    await eventually(lambda: sum(r.services.state.is_writer() for r in group) == 1)  # type: ignore[attr-defined]
    a, b = group
    return (a, b) if a.services.state.is_writer() else (b, a)  # type: ignore[attr-defined]


async def not_(value: Awaitable[Any]) -> bool:
    return not await value


async def _true(value: Any) -> bool:
    return bool(await value) if asyncio.iscoroutine(value) else bool(value)
