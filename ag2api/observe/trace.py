"""Facts gathered about one request while it runs, reported once when it ends."""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass, field
from typing import Any


@functools.lru_cache(maxsize=4)
def utc_second(second: int) -> str:
    """``2026-12-07T19:33:02``: formatted once per second, not once per request."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))


@dataclass
class RequestTrace:
    request_id: str
    method: str
    path: str
    started: float = field(default_factory=time.monotonic)
    wall_time: float = field(default_factory=time.time)
    key_label: str | None = None
    route: str | None = None  # the dialect's label (chat, messages…); else derived from the path
    model: str | None = None  # the model asked for (resolved)
    served: str | None = None  # the model that served: ``model``, or a fallback
    credits: bool = False  # served on Google One AI credits
    affinity: str = ""  # what routing did with the request's conversation ("" without one)
    stream: bool | None = None
    project: str | None = None  # masked
    attempts: int = 0
    failovers: int = 0
    upstream_started: float | None = None
    upstream_ended: float | None = None
    first_token_at: float | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    reasoning_tokens: int = 0
    error_type: str | None = None
    retry_reasons: list[str] = field(default_factory=list)

    def upstream_seconds(self) -> float | None:
        if self.upstream_started is None:
            return None
        return (self.upstream_ended or time.monotonic()) - self.upstream_started

    def ttft_seconds(self) -> float | None:
        return None if self.first_token_at is None else self.first_token_at - self.started

    def add_usage(self, usage: dict[str, Any] | None) -> None:
        if not usage:
            return
        self.prompt_tokens = int(usage.get("prompt_tokens") or 0)
        self.completion_tokens = int(usage.get("completion_tokens") or 0)
        details = usage.get("completion_tokens_details") or {}
        self.reasoning_tokens = int(details.get("reasoning_tokens") or 0)

    def record(self, status: int, now: float | None = None) -> dict[str, Any]:
        """The request-log line (no secret: the key appears by its label only)."""
        total = (now or time.monotonic()) - self.started
        upstream = self.upstream_seconds()
        ttft = self.ttft_seconds()
        wall = self.wall_time
        second = int(wall)
        return {
            "time": f"{utc_second(second)}.{int((wall - second) * 1000):03d}Z",
            "request_id": self.request_id,
            "method": self.method,
            "path": self.path,
            "key": self.key_label,
            "model": self.model,
            "served_model": self.served,
            "project": self.project,
            "stream": self.stream,
            "status": status,
            "attempts": self.attempts,
            "duration_ms": round(total * 1000, 1),
            "upstream_ms": None if upstream is None else round(upstream * 1000, 1),
            "ttft_ms": None if ttft is None else round(ttft * 1000, 1),
            "tokens_in": self.prompt_tokens,
            "tokens_out": self.completion_tokens,
            "tokens_reasoning": self.reasoning_tokens,
            "error_type": self.error_type,
            "credits": self.credits,
            "affinity": self.affinity or None,
        }
