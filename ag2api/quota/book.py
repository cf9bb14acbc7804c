"""The quota of every account as last checked, and what routing reads from it: how much of a
model's quota is left, until when an (account, model) is out, whether credits may be spent."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from ag2api.quota.wire import Bucket, Credits, ModelQuota, family


@dataclass(frozen=True)
class AccountQuota:
    """One check of one account."""

    checked_at: float
    models: tuple[ModelQuota, ...] = ()
    buckets: tuple[Bucket, ...] = ()
    credits: Credits | None = None

    def model(self, name: str) -> ModelQuota | None:
        return next((q for q in self.models if q.model == name), None)

    def buckets_of(self, model: str) -> tuple[Bucket, ...]:
        fam = family(model)
        return tuple(b for b in self.buckets if b.family == fam)


@dataclass
class QuotaBook:
    """``accounts[project_id]``: the latest :class:`AccountQuota`. Credit use stopped by an
    ``INSUFFICIENT_G1_CREDITS_BALANCE`` stays stopped until that account's next check."""

    clock: Callable[[], float] = time.time
    accounts: dict[str, AccountQuota] = field(default_factory=dict)
    credits_stopped: set[str] = field(default_factory=set)

    def record(self, project_id: str, quota: AccountQuota) -> None:
        self.accounts[project_id] = quota
        self.credits_stopped.discard(project_id)

    def forget(self, keep: set[str]) -> None:
        """Drop accounts no longer in the pool."""
        for gone in set(self.accounts) - keep:
            del self.accounts[gone]
        self.credits_stopped &= keep

    def model_remaining(self, project_id: str, model: str) -> float | None:
        """The model's own fraction left (fetchAvailableModels) as last checked; None: unknown."""
        quota = self.accounts.get(project_id)
        found = quota.model(model) if quota is not None else None
        return found.remaining if found is not None else None

    def remaining(self, project_id: str, model: str) -> float | None:
        """What is left for ``model`` on the account: the least of its own fraction and its
        group's 5-hour and weekly buckets, as last checked; a fraction whose reset has passed
        counts as full. None: unknown."""
        quota = self.accounts.get(project_id)
        if quota is None:
            return None
        now = self.clock()
        values: list[float] = []
        found = quota.model(model)
        if found is not None:
            values.append(_current(found.remaining, found.reset_at, now))
        for bucket in quota.buckets_of(model):
            if bucket.remaining is not None:
                left = 0.0 if bucket.disabled else bucket.remaining
                values.append(_current(left, bucket.reset_at, now))
        return min(values) if values else None

    def exhausted_until(self, project_id: str, model: str) -> tuple[float, str] | None:
        """(epoch seconds, why) while the last check says ``model`` is used up on the account:
        its own quota, or its group's 5-hour or weekly bucket, until the latest of their
        resets; None when it is not (or the resets have passed)."""
        quota = self.accounts.get(project_id)
        if quota is None:
            return None
        now = self.clock()
        out: tuple[float, str] | None = None
        found = quota.model(model)
        limits: list[tuple[float | None, bool, str]] = []
        if found is not None:
            limits.append((found.reset_at, found.remaining <= 0.0, "QUOTA_EXHAUSTED"))
        for b in quota.buckets_of(model):
            limits.append((b.reset_at, b.exhausted, f"QUOTA_EXHAUSTED ({b.window} limit)"))
        for reset, exhausted, why in limits:
            if exhausted and reset is not None and reset > now and (out is None or reset > out[0]):
                out = (reset, why)
        return out

    def credits(self, project_id: str) -> Credits | None:
        quota = self.accounts.get(project_id)
        return quota.credits if quota is not None else None

    def credits_usable(self, project_id: str) -> bool:
        """Whether the last check showed enough credits, and none has been refused since."""
        credits = self.credits(project_id)
        return credits is not None and credits.usable and project_id not in self.credits_stopped

    def stop_credits(self, project_id: str) -> bool:
        """The upstream refused the account's credits: none until its next check. True when
        this stopped them."""
        if project_id in self.credits_stopped:
            return False
        self.credits_stopped.add(project_id)
        return True


def _current(fraction: float, reset_at: float | None, now: float) -> float:
    """A fraction as it stands now: full again once its reset time has passed."""
    return 1.0 if reset_at is not None and reset_at <= now and fraction < 1.0 else fraction
