"""Client API keys: which key a request presents, and a constant-time check against the set."""

from __future__ import annotations

import hmac
from collections.abc import Mapping

from ag2api.config.schema import ApiKey


def presented_key(headers: Mapping[str, str]) -> str | None:
    """``Authorization: Bearer <key>`` (OpenAI SDKs) or ``x-api-key: <key>`` (Anthropic style)."""
    auth = headers.get("Authorization", "")
    if auth[:7].lower() == "bearer ":
        return auth[7:].strip() or None
    key = headers.get("x-api-key", "").strip()
    return key or None


def find_key(keys: tuple[ApiKey, ...], presented: str | None) -> ApiKey | None:
    """The configured key equal to ``presented``; every key is compared, in constant time."""
    if presented is None:
        return None
    given = presented.encode("utf-8")
    found: ApiKey | None = None
    for key in keys:
        if hmac.compare_digest(key.key.encode("utf-8"), given):
            found = key
    return found
