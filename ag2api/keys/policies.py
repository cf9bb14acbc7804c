"""What a key's policy says about a request: whether the key may be used at all (enabled, not
expired), which models it may use, and how a refused admission is worded — OpenAI's 429 texts and
``x-ratelimit-*`` headers. Pure checks; counting is :mod:`ag2api.keys.limiter`'s, and the one
step every generating route takes is :mod:`ag2api.keys.admission`.
"""

from __future__ import annotations

import time

from ag2api.config.schema import KeyPolicy
from ag2api.errors import GatewayError
from ag2api.keys.limiter import Admission, budget_reset

REASONS = ("rpm", "tpm", "concurrency", "daily", "monthly", "model", "expired", "disabled")


def check_key(policy: KeyPolicy, label: str, now: float | None = None) -> None:
    """401 for a disabled or expired key."""
    if not policy.enabled:
        raise GatewayError(f"The API key '{label}' is disabled.", kind="key_disabled")
    if policy.expires is not None and (now if now is not None else time.time()) >= policy.expires:
        when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(policy.expires))
        raise GatewayError(f"The API key '{label}' expired at {when}.", kind="key_expired")


def check_model(policy: KeyPolicy, label: str, *serving: str, asked: str | None = None) -> None:
    """403 unless each model that may serve the request is allowed for the key — judged on what
    will serve, never on the name asked (an alias must not open another model)."""
    if policy.models is None:
        return
    refused = next((model for model in serving if not policy.allows(model)), None)
    if refused is None:
        return
    named = f"`{refused}`" + (f" (asked as `{asked}`)" if asked and asked != refused else "")
    raise GatewayError(
        f"The API key '{label}' may not use the model {named}.",
        param="model",
        kind="model_not_allowed",
    )


def refusal(
    policy: KeyPolicy, label: str, adm: Admission, now: float | None = None
) -> GatewayError:
    """The 429 for a refused admission, in OpenAI's wording."""
    reason = adm.reason
    if reason in ("daily", "monthly"):
        reset = budget_reset(reason, now)
        budget = policy.daily_tokens if reason == "daily" else policy.monthly_tokens
        used = adm.day_used if reason == "daily" else adm.month_used
        when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(reset))
        return GatewayError(
            f"The API key '{label}' has used its {reason} token budget ({used} of {budget} "
            f"tokens); it resets at {when}.",
            kind="insufficient_quota",
            retry_after=max(1.0, reset - (now if now is not None else time.time())),
        )
    if reason == "tpm":
        return GatewayError(
            f"Rate limit reached for API key '{label}' on tokens per min (TPM): Limit "
            f"{policy.tpm}, Used {adm.tokens_used}. Please try again in {adm.retry_after:.3g}s.",
            kind="key_tokens_limited",
            retry_after=adm.retry_after,
        )
    if reason == "concurrency":
        return GatewayError(
            f"API key '{label}' already has {policy.max_concurrent} requests in flight "
            "(max_concurrent); retry when one ends.",
            kind="key_rate_limited",
            retry_after=adm.retry_after or 1.0,
        )
    return GatewayError(
        f"Rate limit reached for API key '{label}' on requests per min (RPM): Limit "
        f"{policy.rpm}, Used {adm.requests_used}. Please try again in {adm.retry_after:.3g}s.",
        kind="key_rate_limited",
        retry_after=adm.retry_after,
    )


def duration(seconds: float) -> str:
    """OpenAI's reset format: ``20ms``, ``1s``, ``6m0s``."""
    if seconds < 1:
        return f"{max(0, int(seconds * 1000))}ms"
    whole = int(seconds + 0.999)
    if whole < 60:
        return f"{whole}s"
    return f"{whole // 60}m{whole % 60}s"


def rate_headers(policy: KeyPolicy, adm: Admission) -> dict[str, str]:
    """OpenAI's ``x-ratelimit-*`` headers for the key's per-minute limits."""
    out: dict[str, str] = {}
    if policy.rpm is not None:
        out["x-ratelimit-limit-requests"] = str(policy.rpm)
        out["x-ratelimit-remaining-requests"] = str(max(0, policy.rpm - adm.requests_used))
        out["x-ratelimit-reset-requests"] = duration(adm.requests_reset)
    if policy.tpm is not None:
        out["x-ratelimit-limit-tokens"] = str(policy.tpm)
        out["x-ratelimit-remaining-tokens"] = str(max(0, policy.tpm - adm.tokens_used))
        out["x-ratelimit-reset-tokens"] = duration(adm.tokens_reset)
    return out
