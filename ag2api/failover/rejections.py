"""Masked content rejections: a 429 that refuses the request, not the account.

Cloud Code inspects the system instruction of agent requests and refuses some with a bare
``429 RESOURCE_EXHAUSTED`` (no ErrorInfo, no RetryInfo) — the same on every retry and every
account, while the account's quota is untouched. Read as a rate limit it would cool each
healthy account in turn, so that one client's prompt takes the pool from everyone.
"""

from __future__ import annotations

from collections.abc import Callable

from ag2api.upstream.client import UpstreamHTTPError, UpstreamProblem
from ag2api.upstream.google_error import GoogleError

# (project id, model) → the account's remaining quota fraction as last checked; None: unknown.
QuotaLookup = Callable[[str, str], float | None]


def quota_unknown(project_id: str, model: str) -> float | None:
    return None


class ContentRejected(UpstreamProblem):
    """An attempt the upstream refused for the request's content (nothing against the account)."""

    def __init__(self, cause: UpstreamHTTPError, model: str) -> None:
        super().__init__(f"refused the request's system prompt ({cause})")
        self.cause = cause
        self.model = model


def is_content_rejection(err: GoogleError, quota_left: float | None) -> bool:
    """Whether a 429 is a content rejection rather than a limit on the account.

    A 429 naming its limit (a known reason, a delay) is a limit. Otherwise the account's quota
    as last checked decides when it is known: some left means the request was refused. Without
    it, only the bare RESOURCE_EXHAUSTED counts as a rejection."""
    if err.status != "RESOURCE_EXHAUSTED" or err.names_a_limit:
        return False
    if quota_left is not None:
        return quota_left > 0
    return err.is_bare_exhaustion
