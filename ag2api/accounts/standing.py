"""What a disabled account's ``disabled_reason`` means: does it pass by itself, and how it is shown.

The reason's first word names the cause (the gateway writes them so; :mod:`ag2api.upstream.
google_error` for Google's):

* ``VALIDATION_REQUIRED`` — Google wants the person to verify the account: shown as *needs
  verification* with its link, rechecked, back by itself once verified;
* ``PROXY_UNREACHABLE``, ``CONSUMER_INVALID``, ``SERVICE_DISABLED``, ``upstream 401 …`` —
  transient: rechecked, back by itself once the cause has passed;
* anything else — a dead refresh token (``token refresh failed: invalid_grant``), a Terms of
  Service ban, Google's ``ACCOUNT_DISABLED``, a person's own disable — stays until a new login
  (or a person enables it).
"""

from __future__ import annotations

import re

VERIFY = "VALIDATION_REQUIRED"
PROXY_UNREACHABLE = "PROXY_UNREACHABLE"
TRANSIENT = (PROXY_UNREACHABLE, "CONSUMER_INVALID", "SERVICE_DISABLED", "upstream 401 after")
NEEDS_VERIFICATION = "needs_verification"
# The link as account_cause writes it, or as Google's message carries it.
_LINK = re.compile(r"(?:verify at\s+)?(https://accounts\.google\.com/\S+)")


def needs_verification(reason: str | None) -> bool:
    return bool(reason) and str(reason).startswith(VERIFY)


def recheckable(reason: str | None) -> bool:
    """Whether an account disabled for ``reason`` is rechecked and may come back by itself."""
    return bool(reason) and str(reason).startswith((VERIFY, *TRANSIENT))


def is_proxy_fault(reason: str | None) -> bool:
    return bool(reason) and str(reason).startswith(PROXY_UNREACHABLE)


def verification_url(reason: str | None) -> str | None:
    if not needs_verification(reason):
        return None
    found = _LINK.search(str(reason))
    return found.group(1).rstrip(".,)") if found else None


def without_link(reason: str | None) -> str | None:
    """The reason with its verification link left out (for views that must not show it)."""
    if not reason:
        return reason
    return _LINK.sub("(link in /admin and `ag2api accounts`)", reason).replace("— (link", "(link")


def state_name(enabled: bool, reason: str | None, cooling: bool = False) -> str:
    """enabled, cooling, needs_verification or disabled."""
    if enabled:
        return "cooling" if cooling else "enabled"
    return NEEDS_VERIFICATION if needs_verification(reason) else "disabled"
