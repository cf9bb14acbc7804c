"""Reading the upstream's quota answers (docs/protocol.md §4.1, §4.3, §11): per-model
``quotaInfo`` from fetchAvailableModels, the 5-hour and weekly buckets of
retrieveUserQuotaSummary, and the Google One AI credits in loadCodeAssist. Pure.

Proto3 leaves zero values out: a model or bucket with a reset time and no fraction is exhausted.
"""

from __future__ import annotations

import datetime
import time
from dataclasses import dataclass
from typing import Any

SUMMARY_PATH = "/v1internal:retrieveUserQuotaSummary"
LOAD_CODE_ASSIST_PATH = "/v1internal:loadCodeAssist"
CREDIT_TYPE = "GOOGLE_ONE_AI"


def epoch(stamp: Any) -> float | None:
    """An RFC 3339 time (``2026-06-04T15:24:12Z``) as epoch seconds; None when unreadable."""
    if not isinstance(stamp, str) or not stamp:
        return None
    try:
        at = datetime.datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return None
    if at.tzinfo is None:
        at = at.replace(tzinfo=datetime.UTC)
    return at.timestamp()


def iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.datetime.fromtimestamp(ts, datetime.UTC).isoformat(timespec="seconds")


def reset_in(reset_time: str | None, now: float | None = None) -> str:
    """``3h07m`` until ``reset_time``; ``-`` when there is none."""
    if not reset_time:
        return "-"
    at = epoch(reset_time)
    if at is None:
        return reset_time
    left = max(0, int(at - (time.time() if now is None else now)))
    return f"{left // 3600}h{left % 3600 // 60:02d}m"


def family(model: str) -> str:
    """Which bucket group limits ``model``: ``gemini``, or ``3p`` (Claude and GPT models)."""
    return "gemini" if model.startswith("gemini") else "3p"


@dataclass(frozen=True)
class ModelQuota:
    model: str
    remaining: float  # 0..1
    reset_time: str | None

    @property
    def reset_at(self) -> float | None:
        return epoch(self.reset_time)

    def to_json(self) -> dict[str, Any]:
        return {"model": self.model, "remaining": self.remaining, "reset_time": self.reset_time}


@dataclass(frozen=True)
class Bucket:
    """One limit of a model group: ``window`` ``5h`` or ``weekly``, ``family`` as
    :func:`family` names it."""

    bucket_id: str
    window: str
    family: str
    remaining: float | None  # None: not said
    reset_time: str | None
    disabled: bool = False

    @property
    def reset_at(self) -> float | None:
        return epoch(self.reset_time)

    @property
    def exhausted(self) -> bool:
        return self.disabled or self.remaining == 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "bucket": self.bucket_id,
            "window": self.window,
            "family": self.family,
            "remaining": self.remaining,
            "reset_time": self.reset_time,
            "disabled": self.disabled,
        }


@dataclass(frozen=True)
class Credits:
    """Google One AI credits (``paidTier.availableCredits``); usable from ``minimum`` on."""

    amount: float
    minimum: float
    tier: str | None = None

    @property
    def usable(self) -> bool:
        return self.amount >= self.minimum and self.amount > 0

    def to_json(self) -> dict[str, Any]:
        return {"amount": self.amount, "minimum": self.minimum, "tier": self.tier}


def _fraction(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return max(0.0, min(1.0, float(value)))


def parse_models(body: dict[str, Any]) -> list[ModelQuota]:
    """``models.<id>.quotaInfo`` of a fetchAvailableModels answer (internal models left out)."""
    models = body.get("models")
    out: list[ModelQuota] = []
    if not isinstance(models, dict):
        return out
    for model, info in sorted(models.items()):
        quota = info.get("quotaInfo") if isinstance(info, dict) else None
        if not isinstance(quota, dict) or info.get("isInternal"):
            continue
        fraction = _fraction(quota.get("remainingFraction"))
        reset = quota.get("resetTime") if isinstance(quota.get("resetTime"), str) else None
        if fraction is None:
            if reset is None:
                continue
            fraction = 0.0
        out.append(ModelQuota(model, fraction, reset))
    return out


def _groups(body: dict[str, Any]) -> list[Any]:
    """The summary's groups, bare or wrapped (``response``, ``quotaSummary``)."""
    for holder in (body, body.get("response"), body.get("quotaSummary")):
        if isinstance(holder, dict):
            groups = holder.get("groups")
            if isinstance(groups, list):
                return groups
            inner = holder.get("quotaSummary")
            if isinstance(inner, dict) and isinstance(inner.get("groups"), list):
                return list(inner["groups"])
    return []


def parse_summary(body: dict[str, Any]) -> list[Bucket]:
    """The buckets of a retrieveUserQuotaSummary answer."""
    out: list[Bucket] = []
    for group in _groups(body):
        buckets = group.get("buckets") if isinstance(group, dict) else None
        for raw in buckets if isinstance(buckets, list) else ():
            if not isinstance(raw, dict):
                continue
            bucket_id = str(raw.get("bucketId") or "")
            window = str(raw.get("window") or bucket_id.rpartition("-")[2] or "")
            fraction = _fraction(raw.get("remainingFraction"))
            nested = raw.get("remaining")
            if fraction is None and isinstance(nested, dict):
                fraction = _fraction(nested.get("remainingFraction"))
            reset = raw.get("resetTime") if isinstance(raw.get("resetTime"), str) else None
            if fraction is None and reset is not None:
                fraction = 0.0
            name = f"{bucket_id} {group.get('displayName') or ''}".lower()
            out.append(
                Bucket(
                    bucket_id or window,
                    window,
                    "gemini" if "gemini" in name else "3p",
                    fraction,
                    reset,
                    bool(raw.get("disabled")),
                )
            )
    return out


def _amount(value: Any) -> float | None:
    """Credit amounts come as int64 strings (``"25000"``) or numbers."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def parse_credits(body: dict[str, Any]) -> Credits | None:
    """The Google One AI entry of loadCodeAssist's ``paidTier.availableCredits``; None: none."""
    tier = body.get("paidTier")
    if not isinstance(tier, dict):
        return None
    entries = tier.get("availableCredits")
    for entry in entries if isinstance(entries, list) else ():
        if not isinstance(entry, dict):
            continue
        if str(entry.get("creditType", "")).upper() != CREDIT_TYPE:
            continue
        amount = _amount(entry.get("creditAmount"))
        if amount is None:
            continue
        minimum = _amount(entry.get("minimumCreditAmountForUsage"))
        tier_id = tier.get("id") if isinstance(tier.get("id"), str) else None
        return Credits(amount, minimum if minimum is not None else 0.0, tier_id)
    return None
