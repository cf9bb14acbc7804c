"""What the admin APIs and the console show, built from the live state (pure)."""

from __future__ import annotations

import datetime
import time
from collections.abc import Callable
from typing import Any

from ag2api.accounts.pool import QUOTA_EXHAUSTED
from ag2api.accounts.proxies import mask_proxy
from ag2api.accounts.standing import state_name, verification_url
from ag2api.config.schema import GatewayConfig, KeyPolicy
from ag2api.keys.limiter import periods
from ag2api.observe.content_rejections import RecentRejections
from ag2api.quota.book import QuotaBook
from ag2api.quota.wire import reset_in
from ag2api.redact import mask, shown_disabled_reason
from ag2api.state.base import AccountState, StateSnapshot


def iso(ts: float | None) -> str | None:
    if not ts:
        return None
    return datetime.datetime.fromtimestamp(ts, datetime.UTC).isoformat(timespec="seconds")


def accounts_view(
    snapshot: StateSnapshot, book: QuotaBook, use_credits: Callable[[str], bool]
) -> list[dict[str, Any]]:
    """Each account with, per model, the quota left, its reset, and whether (and until when)
    routing skips it; its 5-hour and weekly buckets; its credits."""
    now = book.clock()
    out: list[dict[str, Any]] = []
    for i, account in enumerate(snapshot.accounts, 1):
        cooling = [
            {
                "model": c.model,
                "until": iso(c.until),
                "reason": c.reason,
                "left": reset_in(iso(c.until), now),
            }
            for c in account.cooling
        ]
        quota = book.accounts.get(account.project_id)
        skipped = {c.model: c for c in account.cooling}
        models: list[dict[str, Any]] = []
        for q in quota.models if quota is not None else ():
            models.append({**q.to_json(), "resets_in": reset_in(q.reset_time, now)})
        for c in account.cooling:
            if quota is None or quota.model(c.model) is None:
                models.append({"model": c.model, "remaining": None, "reset_time": None})
        for m in models:
            skip = skipped.get(m["model"])
            m["skipped_until"] = iso(skip.until) if skip is not None else None
            m["skip_reason"] = skip.reason if skip is not None else None
        credits = book.credits(account.project_id)
        enabled = use_credits(account.project_id)
        out.append(
            {
                "number": i,
                "project": mask(account.project_id),
                "email": account.email,
                "state": state_name(account.enabled, account.disabled_reason, bool(cooling)),
                "disabled_reason": shown_disabled_reason(
                    account.disabled_reason, account.project_id
                ),
                # Where the person verifies the account (state needs_verification), else None.
                "verification_url": verification_url(account.disabled_reason),
                "proxy": mask_proxy(account.proxy) if account.proxy else None,
                "uses": account.uses,
                "in_flight": account.in_flight,
                "last_used_at": iso(account.last_used_at),
                "cooldowns": cooling,
                "quota": {
                    "checked_at": iso(quota.checked_at) if quota is not None else None,
                    "models": models,
                    "buckets": [
                        {**b.to_json(), "resets_in": reset_in(b.reset_time, now)}
                        for b in (quota.buckets if quota is not None else ())
                    ],
                },
                "credits": {
                    "enabled": enabled,
                    **(credits.to_json() if credits is not None else {"amount": None}),
                    "usable": book.credits_usable(account.project_id),
                    "stopped": account.project_id in book.credits_stopped,
                    # Serving now on credits: some model's free quota is out and they may pay.
                    "in_use": enabled
                    and book.credits_usable(account.project_id)
                    and any((c.reason or "").startswith(QUOTA_EXHAUSTED) for c in account.cooling),
                },
            }
        )
    return out


def rejections_view(recent: RecentRejections) -> dict[str, Any]:
    """The latest refused system prompts: when, model, key label (nothing of the prompt)."""
    return {
        "total": recent.total,
        "latest": [
            {
                "time": iso(r.at),
                "model": r.model,
                "key": r.key,
                "route": r.route,
                "request_id": r.request_id,
            }
            for r in recent.latest()
        ],
    }


async def keys_view(cfg: GatewayConfig, state: AccountState) -> list[dict[str, Any]]:
    """Each client key (by label, never the key) with its policy and its use against it: live
    counts from the state backend (pool-wide with Redis) for keys with limits."""
    day, month = periods()
    out = []
    for key in cfg.api_keys:
        policy = cfg.policy_of(key)
        use = await state.key_use(key.ident, day, month) if policy.has_limits else None
        expires = policy.expires
        out.append(
            {
                "label": key.label,
                "hashed": key.hashed,
                "policy": "own" if key.policy is not None else "defaults",
                "enabled": policy.enabled,
                "expires": iso(expires),
                "expired": expires is not None and time.time() >= expires,
                "models": list(policy.models) if policy.models is not None else None,
                "limits": {
                    "rpm": _against(policy.rpm, use.requests_minute if use else None),
                    "tpm": _against(policy.tpm, use.tokens_minute if use else None),
                    "max_concurrent": _against(
                        policy.max_concurrent, use.in_flight if use else None
                    ),
                    "daily_tokens": _against(policy.daily_tokens, use.day_tokens if use else None),
                    "monthly_tokens": _against(
                        policy.monthly_tokens, use.month_tokens if use else None
                    ),
                },
            }
        )
    return out


def _against(limit: int | None, used: int | None) -> dict[str, int | None]:
    return {"limit": limit, "used": used}


# -- the console ---------------------------------------------------------------------------
def console_accounts(
    rows: list[dict[str, Any]], usage_today: dict[str, dict[str, int]]
) -> list[dict[str, Any]]:
    """The accounts view with what the console adds: the id its actions name (the masked
    project) and the requests and tokens of today (UTC)."""
    out = []
    for row in rows:
        used = usage_today.get(row["project"], {})
        out.append(
            {
                **row,
                "id": row["project"],
                "today": {
                    "requests": used.get("requests", 0),
                    "tokens": used.get("tokens", 0),
                    "errors": used.get("errors", 0),
                },
            }
        )
    return out


def usage_by(rows: list[dict[str, Any]], field: str) -> dict[str, dict[str, int]]:
    """Usage rows summed per ``field`` (key, model or project)."""
    out: dict[str, dict[str, int]] = {}
    for row in rows:
        into = out.setdefault(row[field], {"requests": 0, "tokens": 0, "errors": 0})
        into["requests"] += row["requests"]
        into["tokens"] += row["prompt_tokens"] + row["completion_tokens"]
        into["errors"] += row["errors"]
    return out


def policy_json(policy: KeyPolicy) -> dict[str, Any]:
    """A key policy as the API shows it and takes it back (``expires`` as written: a day, or a
    moment)."""
    out: dict[str, Any] = {
        "models": list(policy.models) if policy.models is not None else None,
        "rpm": policy.rpm,
        "tpm": policy.tpm,
        "max_concurrent": policy.max_concurrent,
        "daily_tokens": policy.daily_tokens,
        "monthly_tokens": policy.monthly_tokens,
        "expires": None,
        "enabled": policy.enabled,
    }
    if policy.expires is not None:
        end = datetime.datetime.fromtimestamp(policy.expires, datetime.UTC)
        if end.time() == datetime.time(0):  # a day: valid through the day before this midnight
            out["expires"] = (end.date() - datetime.timedelta(days=1)).isoformat()
        else:
            out["expires"] = end.isoformat(timespec="seconds")
    return out


def console_keys(
    cfg: GatewayConfig,
    rows: list[dict[str, Any]],
    today: dict[str, dict[str, int]],
    month: dict[str, dict[str, int]],
) -> list[dict[str, Any]]:
    """The keys view with each key's own policy (for editing) and its use today and this month
    from the usage statistics."""
    by_label = {k.label: k for k in cfg.api_keys}
    out = []
    for row in rows:
        key = by_label[row["label"]]
        zero = {"requests": 0, "tokens": 0, "errors": 0}
        out.append(
            {
                **row,
                "own_policy": policy_json(key.policy) if key.policy is not None else None,
                "today": today.get(key.label, zero),
                "month": month.get(key.label, zero),
            }
        )
    return out


def series(rows: list[dict[str, Any]], field: str, days: list[str], top: int = 8) -> dict[str, Any]:
    """Per day, requests, tokens and errors of each ``field`` value (the ``top`` busiest by
    tokens; the rest summed as "other")."""
    totals = usage_by(rows, field)
    order = sorted(totals, key=lambda name: (-totals[name]["tokens"], -totals[name]["requests"]))
    shown = order[:top]
    index = {day: i for i, day in enumerate(days)}
    names = shown + (["other"] if len(order) > top else [])
    data = {name: {m: [0] * len(days) for m in ("requests", "tokens", "errors")} for name in names}
    for row in rows:
        i = index.get(row["day"])
        if i is None:
            continue
        name = row[field] if row[field] in shown else "other"
        data[name]["requests"][i] += row["requests"]
        data[name]["tokens"][i] += row["prompt_tokens"] + row["completion_tokens"]
        data[name]["errors"][i] += row["errors"]
    return {"days": days, "series": [{"name": n, **data[n]} for n in names]}


def day_range(today: str, days: int) -> list[str]:
    end = datetime.date.fromisoformat(today)
    return [(end - datetime.timedelta(days=back)).isoformat() for back in range(days - 1, -1, -1)]
