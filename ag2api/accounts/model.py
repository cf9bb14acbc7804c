"""One Google account (a Cloud project with its OAuth tokens) and the OAuth client config."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

# expires_at above this is milliseconds (older files); in seconds it would be the year 5138.
_MS_THRESHOLD = 100_000_000_000

DEFAULT_TOKEN_URL = "https://oauth2.googleapis.com/token"


@dataclass(frozen=True)
class OAuthConfig:
    client_id: str
    client_secret: str
    token_url: str = DEFAULT_TOKEN_URL


@dataclass
class Account:
    """Mutable runtime record; only ``accounts.store`` turns it into tokens.json fields."""

    project_id: str
    refresh_token: str
    access_token: str | None = None
    expires_at: float = 0.0
    enabled: bool = True
    disabled_reason: str | None = None
    email: str | None = None
    last_used_at: float | None = None
    cooldowns: dict[str, Any] = field(default_factory=dict)
    uses: int = 0  # requests served since the gateway started (not persisted)
    # The account's own way out (accounts.proxies): a proxy URL or "direct", a User-Agent.
    proxy: str | None = None
    user_agent: str | None = None
    # The OAuth client that issued its refresh token, when not the default (accounts.oauth_client).
    client_id: str | None = None
    # Spend Google One AI credits once its free quota is out; None: accounts.use_credits says.
    use_credits: bool | None = None
    # The entry's other fields (a person's notes): kept when the file is recreated from memory.
    extra: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def token_is_fresh(self, skew: float, now: float | None = None) -> bool:
        if not self.access_token:
            return False
        return self.expires_at - (time.time() if now is None else now) > skew


def epoch_seconds(value: Any) -> float:
    """Normalise an ``expires_at`` from any version of the file to epoch seconds."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return 0.0
    return value / 1000.0 if value > _MS_THRESHOLD else float(value)
