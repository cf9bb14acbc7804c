"""The fake upstream's pool model (off unless set): what makes one account differ from another.

* **Quota.** Each (account, model) has ``capacity`` units per 5-hour window, opened by its
  first use; each model group (Gemini, or Claude and GPT) also a weekly budget. A request costs
  its uncached prompt tokens, a tenth of its cached ones, and its output. Used up: 429
  ``QUOTA_EXHAUSTED`` naming the reset, as Google answers; fetchAvailableModels, the quota
  summary and loadCodeAssist report it all.
* **Prompt cache.** An account remembers the prompts it served; a request whose turns begin
  with one of them is served from cache for that part (``cachedContentTokenCount``): cheaper,
  and faster (``latency`` per uncached token).
* **Credits.** A request with ``enabledCreditTypes`` on an account whose free quota is out is
  served on its Google One AI credits while they reach the minimum, else refused with
  ``INSUFFICIENT_G1_CREDITS_BALANCE``.
* **Rate limit.** More than ``max_concurrent`` calls at once on one account: 429
  ``RATE_LIMIT_EXCEEDED`` (a short delay).

Time comes from ``clock`` (injectable): tests move it past a reset without waiting.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

WINDOW = 5 * 3600.0
WEEK = 7 * 86400.0
ERROR_INFO = "type.googleapis.com/google.rpc.ErrorInfo"
RETRY_INFO = "type.googleapis.com/google.rpc.RetryInfo"


def family(model: str) -> str:
    return "gemini" if model.startswith("gemini") else "3p"


def stamp(at: float) -> str:
    return datetime.datetime.fromtimestamp(at, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def tokens_of(value: Any) -> int:
    return max(1, len(json.dumps(value, separators=(",", ":"))) // 4)


@dataclass
class Window:
    """Units used since ``start``; the window resets ``length`` after it opened."""

    length: float
    start: float | None = None
    used: float = 0.0

    def roll(self, now: float) -> None:
        if self.start is not None and now >= self.start + self.length:
            self.start, self.used = None, 0.0

    def reset_at(self, now: float) -> float:
        return (self.start if self.start is not None else now) + self.length


@dataclass
class Served:
    """One answer the pool model let through (what the benchmark reads)."""

    project: str
    model: str
    prompt_tokens: int
    cached_tokens: int
    credits: bool
    service_seconds: float
    marker: str  # the fake's request id, sent back as the answer's responseId


@dataclass
class Decision:
    """What the pool model says about one generate request."""

    status: int = 200
    body: dict[str, Any] | None = None
    delay: float = 0.0
    cached_tokens: int = 0
    prompt_tokens: int = 0
    credits: bool = False


@dataclass
class PoolModel:
    clock: Callable[[], float] = time.time
    capacity: float = 100_000.0  # units per (account, model) per 5-hour window
    weekly: float = 1_000_000.0  # units per (account, model group) per week
    cached_cost: float = 0.1  # what a cached prompt token costs, against an uncached one
    output_tokens: int = 40  # what an answer costs on top of its prompt
    latency: float = 0.0  # seconds per uncached prompt token (a cached one: a tenth)
    base_latency: float = 0.0  # seconds every answer takes
    max_concurrent: int | None = None  # per account; more at once: RATE_LIMIT_EXCEEDED
    credit_minimum: float = 50.0
    credit_cost: float = 10.0  # credits one request spends
    credits: dict[str, float] = field(default_factory=dict)  # project → credits
    windows: dict[tuple[str, str], Window] = field(default_factory=dict)
    weeks: dict[tuple[str, str], Window] = field(default_factory=dict)
    prompts: dict[str, set[str]] = field(default_factory=dict)  # project → prompt hashes
    in_flight: Counter[str] = field(default_factory=Counter)
    served: list[Served] = field(default_factory=list)
    refusals: Counter[str] = field(default_factory=Counter)  # 429 reason → count

    # -- state ---------------------------------------------------------------------------
    def _window(self, project: str, model: str) -> Window:
        now = self.clock()
        window = self.windows.setdefault((project, model), Window(WINDOW))
        window.roll(now)
        return window

    def _week(self, project: str, model: str) -> Window:
        week = self.weeks.setdefault((project, family(model)), Window(WEEK))
        week.roll(self.clock())
        return week

    def remaining(self, project: str, model: str) -> float:
        window = self._window(project, model)
        return max(0.0, 1.0 - window.used / self.capacity)

    def use_up(self, project: str, model: str) -> None:
        """Spend the rest of the account's 5-hour quota for ``model`` (tests)."""
        self.spend(project, model, self.capacity)

    def spend(self, project: str, model: str, units: float) -> None:
        """Spend ``units`` of the account's 5-hour quota for ``model`` (at most all of it)."""
        window = self._window(project, model)
        window.start = self.clock() if window.start is None else window.start
        window.used = min(self.capacity, window.used + units)

    def _exhausted(self, project: str, model: str) -> float | None:
        """When the account's quota for ``model`` comes back, if it is used up now."""
        now = self.clock()
        window, week = self._window(project, model), self._week(project, model)
        resets = [
            w.reset_at(now)
            for w, cap in ((window, self.capacity), (week, self.weekly))
            if w.used >= cap
        ]
        return max(resets) if resets else None

    # -- a generate request ----------------------------------------------------------------
    def admit(self, project: str, model: str, envelope: dict[str, Any], marker: str) -> Decision:
        """Refuse the request (a 429) or let it through, spending its cost."""
        if self.max_concurrent is not None and self.in_flight[project] >= self.max_concurrent:
            self.refusals["RATE_LIMIT_EXCEEDED"] += 1
            return Decision(429, rate_limited(model, 1.2))
        request = envelope.get("request") or {}
        contents = request.get("contents") or []
        prompt = tokens_of(contents) + tokens_of(request.get("systemInstruction") or "")
        cached = self._cached(project, contents)
        now = self.clock()
        out = self._exhausted(project, model)
        paying = False
        if out is not None:
            if "GOOGLE_ONE_AI" not in (envelope.get("enabledCreditTypes") or ()):
                self.refusals["QUOTA_EXHAUSTED"] += 1
                return Decision(429, quota_exhausted(model, out, now))
            if self.credits.get(project, 0.0) < max(self.credit_minimum, self.credit_cost):
                self.refusals["INSUFFICIENT_G1_CREDITS_BALANCE"] += 1
                return Decision(429, credits_refused(model))
            self.credits[project] -= self.credit_cost
            paying = True
        cost = (prompt - cached) + cached * self.cached_cost + self.output_tokens
        if not paying:
            for w in (self._window(project, model), self._week(project, model)):
                w.start = now if w.start is None else w.start
                w.used += cost
        self._remember(project, contents)
        delay = self.base_latency + self.latency * ((prompt - cached) + cached * 0.1)
        self.served.append(Served(project, model, prompt, cached, paying, delay, marker))
        return Decision(200, None, delay, cached, prompt, paying)

    def _hashes(self, contents: list[Any]) -> list[str]:
        """The running hash of each prefix of the turns (one per turn)."""
        out, h = [], hashlib.sha256()
        for turn in contents:
            h.update(json.dumps(turn, sort_keys=True, separators=(",", ":")).encode())
            out.append(h.copy().hexdigest())
        return out

    def _cached(self, project: str, contents: list[Any]) -> int:
        seen = self.prompts.get(project)
        if not seen:
            return 0
        hashes = self._hashes(contents)
        for k in range(len(contents) - 1, 0, -1):
            if hashes[k - 1] in seen:
                return tokens_of(contents[:k])
        return 0

    def _remember(self, project: str, contents: list[Any]) -> None:
        hashes = self._hashes(contents)
        if hashes:
            self.prompts.setdefault(project, set()).add(hashes[-1])

    # -- what the other endpoints report ----------------------------------------------------
    def quota_info(self, project: str, model: str) -> dict[str, Any]:
        """fetchAvailableModels' ``quotaInfo`` (no fraction when it is used up, as proto3)."""
        now = self.clock()
        out = self._exhausted(project, model)
        if out is not None:
            return {"resetTime": stamp(out)}
        return {
            "remainingFraction": round(self.remaining(project, model), 4),
            "resetTime": stamp(self._window(project, model).reset_at(now)),
        }

    def summary(self, project: str, models: list[str]) -> dict[str, Any]:
        """retrieveUserQuotaSummary: each group's 5-hour and weekly buckets."""
        now = self.clock()
        groups = []
        for fam, name in (("gemini", "Gemini Models"), ("3p", "Claude and GPT models")):
            members = [m for m in models if family(m) == fam]
            if not members:
                continue
            five = min(self.remaining(project, m) for m in members)
            resets = [self._window(project, m).reset_at(now) for m in members]
            week = self.weeks.get((project, fam)) or Window(WEEK)
            week.roll(now)
            weekly = max(0.0, 1.0 - week.used / self.weekly)
            buckets = []
            for window, left, at in (
                ("5h", five, min(resets)),
                ("weekly", weekly, week.reset_at(now)),
            ):
                bucket: dict[str, Any] = {
                    "bucketId": f"{'gemini' if fam == 'gemini' else '3p'}-{window}",
                    "window": window,
                    "displayName": "Five Hour Limit" if window == "5h" else "Weekly Limit",
                    "resetTime": stamp(at),
                }
                if left > 0:
                    bucket["remainingFraction"] = round(left, 4)
                buckets.append(bucket)
            groups.append({"displayName": name, "buckets": buckets})
        return {
            "groups": groups,
            "description": "Within each group, models share a weekly limit and a 5-hour limit.",
        }

    def paid_tier(self, project: str) -> dict[str, Any]:
        """loadCodeAssist's ``paidTier`` with the account's credits (amounts as strings)."""
        if project not in self.credits:
            return {}
        return {
            "paidTier": {
                "id": "g1-pro-tier",
                "name": "Google AI Pro",
                "availableCredits": [
                    {
                        "creditType": "GOOGLE_ONE_AI",
                        "creditAmount": str(int(self.credits[project])),
                        "minimumCreditAmountForUsage": str(int(self.credit_minimum)),
                    }
                ],
            }
        }


def full_summary(models: list[str], now: float) -> dict[str, Any]:
    """A quota summary with every bucket full (the fake without a pool model)."""
    reset = stamp(now + WINDOW)
    return {
        "groups": [
            {
                "displayName": "Gemini Models" if fam == "gemini" else "Claude and GPT models",
                "buckets": [
                    {
                        "bucketId": f"{fam}-{window}",
                        "window": window,
                        "remainingFraction": 1.0,
                        "resetTime": reset,
                    }
                    for window in ("5h", "weekly")
                ],
            }
            for fam in sorted({family(m) for m in models})
        ]
    }


def _error(message: str, reason: str, metadata: dict[str, str], delay: float) -> dict[str, Any]:
    return {
        "error": {
            "code": 429,
            "message": message,
            "status": "RESOURCE_EXHAUSTED",
            "details": [
                {
                    "@type": ERROR_INFO,
                    "reason": reason,
                    "domain": "cloudcode-pa.googleapis.com",
                    "metadata": {"uiMessage": "true", **metadata},
                },
                {"@type": RETRY_INFO, "retryDelay": f"{delay:.9f}s"},
            ],
        }
    }


def quota_exhausted(model: str, reset: float, now: float) -> dict[str, Any]:
    left = max(0.0, reset - now)
    h, rest = divmod(left, 3600)
    m, s = divmod(rest, 60)
    delay = f"{int(h)}h{int(m)}m{s:.9f}s"
    return _error(
        f"Individual quota reached. Contact your administrator to enable overages. Resets in "
        f"{int(h)}h{int(m)}m{int(s)}s.",
        "QUOTA_EXHAUSTED",
        {"model": model, "quotaResetDelay": delay, "quotaResetTimeStamp": stamp(reset)},
        left,
    )


def rate_limited(model: str, delay: float) -> dict[str, Any]:
    return _error(
        f"You have exhausted your capacity on this model. Your quota will reset after "
        f"{int(delay)}s.",
        "RATE_LIMIT_EXCEEDED",
        {"model": model, "quotaResetDelay": f"{delay:.9f}s"},
        delay,
    )


def credits_refused(model: str) -> dict[str, Any]:
    return {
        "error": {
            "code": 429,
            "message": "Insufficient Google One AI credits balance.",
            "status": "RESOURCE_EXHAUSTED",
            "details": [
                {
                    "@type": ERROR_INFO,
                    "reason": "INSUFFICIENT_G1_CREDITS_BALANCE",
                    "domain": "cloudcode-pa.googleapis.com",
                    "metadata": {"model": model},
                }
            ],
        }
    }
