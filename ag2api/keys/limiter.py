"""Counting a key's use against its limits: requests and tokens per minute (sliding windows),
requests in flight (concurrency leases), daily and monthly token budgets.

:meth:`admit` counts a request and takes a concurrency lease atomically, or refuses it with a
reason; tokens are charged when an answer's usage is known, so token limits refuse the *next*
request once they are reached. :class:`MemoryLimiter` is the per-process implementation; the
Redis state runs the same rules as Lua scripts so that every replica shares one count, and
:class:`KeyLimits` is what both offer.
"""

from __future__ import annotations

import calendar
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from typing import Protocol

from ag2api.config.schema import KeyPolicy

WINDOW = 60.0  # seconds of the RPM and TPM windows (sliding)
DAY_TTL = 3 * 86400
MONTH_TTL = 40 * 86400
# A concurrency lease outlives its request by at most this (a replica that dies frees it then).
LEASE_SECONDS = 1800.0


def periods(now: float | None = None) -> tuple[str, str]:
    """The UTC day and month that budgets count in (``20261202``, ``202612``)."""
    t = time.gmtime(now if now is not None else time.time())
    return time.strftime("%Y%m%d", t), time.strftime("%Y%m", t)


def budget_reset(kind: str, now: float | None = None) -> float:
    """Epoch seconds when a daily or monthly budget starts again (next UTC midnight / month)."""
    t = time.gmtime(now if now is not None else time.time())
    if kind == "daily":
        return _utc(t.tm_year, t.tm_mon, t.tm_mday) + 86400.0
    year, month = (t.tm_year + 1, 1) if t.tm_mon == 12 else (t.tm_year, t.tm_mon + 1)
    return _utc(year, month, 1)


def _utc(year: int, month: int, day: int) -> float:
    return float(calendar.timegm((year, month, day, 0, 0, 0, 0, 0, 0)))


@dataclass
class Admission:
    """The limiter's answer: admitted (``reason`` None; ``lease`` taken when the policy limits
    concurrency) or refused."""

    reason: str | None = None
    retry_after: float = 0.0  # seconds, when refused
    lease: str | None = None
    requests_used: int = 0  # in the last minute, this request included
    tokens_used: int = 0  # in the last minute
    requests_reset: float = 0.0  # seconds until the oldest counted request leaves the window
    tokens_reset: float = 0.0
    day_used: int = 0
    month_used: int = 0

    @property
    def ok(self) -> bool:
        return self.reason is None


@dataclass
class KeyUse:
    """A key's current use (for /admin and ``ag2api usage``)."""

    requests_minute: int = 0
    tokens_minute: int = 0
    in_flight: int = 0
    day_tokens: int = 0
    month_tokens: int = 0
    requests_reset: float = 0.0  # seconds until the oldest counted request leaves the window
    tokens_reset: float = 0.0  # seconds until the tokens fall below ``tpm`` (0: they are)

    def admission(self) -> Admission:
        """The same facts as an :class:`Admission` (for the ``x-ratelimit-*`` headers)."""
        return Admission(
            requests_used=self.requests_minute,
            tokens_used=self.tokens_minute,
            requests_reset=self.requests_reset,
            tokens_reset=self.tokens_reset,
            day_used=self.day_tokens,
            month_used=self.month_tokens,
        )


class KeyLimits(Protocol):
    """The limiter as the state backend offers it (one count per process, or shared by every
    replica): what the admission step needs."""

    async def key_admit(self, ident: str, policy: KeyPolicy, day: str, month: str) -> Admission:
        """Count a request and take a concurrency lease, or refuse it."""

    async def key_release(self, ident: str, lease: str) -> None:
        """Give a concurrency lease back."""

    async def key_charge(self, ident: str, tokens: int, day: str, month: str) -> None:
        """Charge the tokens an answer used."""

    async def key_use(self, ident: str, day: str, month: str, tpm: int | None = None) -> KeyUse:
        """The key's current use (read, not counted)."""


@dataclass
class _KeyWindows:
    requests: deque[float] = field(default_factory=deque)
    tokens: deque[tuple[float, int]] = field(default_factory=deque)
    leases: dict[str, float] = field(default_factory=dict)  # lease id → expiry


class MemoryLimiter:
    """The limits of one process (``state.backend: memory``, or Redis unreachable)."""

    def __init__(self) -> None:
        self._keys: dict[str, _KeyWindows] = {}
        # "<ident>:d" / "<ident>:m" → (the day or month, its tokens): only the current period.
        self._budgets: dict[str, tuple[str, int]] = {}

    def _spent(self, ident: str, kind: str, period: str) -> int:
        held = self._budgets.get(f"{ident}:{kind}")
        return held[1] if held is not None and held[0] == period else 0

    def _prune(self, ident: str, now: float) -> _KeyWindows:
        w = self._keys.setdefault(ident, _KeyWindows())
        while w.requests and w.requests[0] <= now - WINDOW:
            w.requests.popleft()
        while w.tokens and w.tokens[0][0] <= now - WINDOW:
            w.tokens.popleft()
        for lease, until in list(w.leases.items()):
            if until <= now:
                del w.leases[lease]
        return w

    def admit(
        self, ident: str, policy: KeyPolicy, day: str, month: str, now: float | None = None
    ) -> Admission:
        now = time.time() if now is None else now
        w = self._prune(ident, now)
        adm = Admission(
            requests_used=len(w.requests),
            tokens_used=sum(n for _, n in w.tokens),
            day_used=self._spent(ident, "d", day),
            month_used=self._spent(ident, "m", month),
        )
        adm.tokens_reset = _tokens_reset(list(w.tokens), policy.tpm, now)
        if policy.daily_tokens is not None and adm.day_used >= policy.daily_tokens:
            adm.reason = "daily"
        elif policy.monthly_tokens is not None and adm.month_used >= policy.monthly_tokens:
            adm.reason = "monthly"
        elif policy.tpm is not None and adm.tokens_used >= policy.tpm:
            adm.reason, adm.retry_after = "tpm", adm.tokens_reset
        elif policy.rpm is not None and adm.requests_used >= policy.rpm:
            adm.reason = "rpm"
            adm.retry_after = adm.requests_reset = w.requests[0] + WINDOW - now
        elif policy.max_concurrent is not None and len(w.leases) >= policy.max_concurrent:
            adm.reason, adm.retry_after = "concurrency", 1.0
        if adm.reason is not None:
            return adm
        w.requests.append(now)
        adm.requests_used += 1
        adm.requests_reset = w.requests[0] + WINDOW - now
        if policy.max_concurrent is not None:  # as the Redis script: a lease only to count
            adm.lease = uuid.uuid4().hex
            w.leases[adm.lease] = now + LEASE_SECONDS
        return adm

    def release(self, ident: str, lease: str) -> None:
        w = self._keys.get(ident)
        if w is not None:
            w.leases.pop(lease, None)

    def charge(
        self, ident: str, tokens: int, day: str, month: str, now: float | None = None
    ) -> None:
        now = time.time() if now is None else now
        if tokens <= 0:
            return
        self._prune(ident, now).tokens.append((now, tokens))
        for kind, period in (("d", day), ("m", month)):
            self._budgets[f"{ident}:{kind}"] = (period, self._spent(ident, kind, period) + tokens)

    def use(
        self,
        ident: str,
        day: str,
        month: str,
        tpm: int | None = None,
        now: float | None = None,
    ) -> KeyUse:
        now = time.time() if now is None else now
        w = self._prune(ident, now)
        return KeyUse(
            len(w.requests),
            sum(n for _, n in w.tokens),
            len(w.leases),
            self._spent(ident, "d", day),
            self._spent(ident, "m", month),
            w.requests[0] + WINDOW - now if w.requests else 0.0,
            _tokens_reset(list(w.tokens), tpm, now),
        )


def _tokens_reset(entries: list[tuple[float, int]], tpm: int | None, now: float) -> float:
    """Seconds until the tokens in the window fall below ``tpm`` (0 when they are)."""
    if tpm is None:
        return 0.0
    used = sum(n for _, n in entries)
    for at, n in entries:
        if used < tpm:
            break
        used -= n
        if used < tpm:
            return max(0.0, at + WINDOW - now)
    return 0.0
