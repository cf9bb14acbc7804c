"""An account's own way out: its ``proxy`` and ``user_agent`` fields in tokens.json.

``"proxy": "http://…" | "https://…" | "socks5://…" | "socks5h://…"`` (credentials allowed) sends
everything done for that account through that proxy; ``"direct"`` sends it straight out even when
``upstream.proxy`` sets a default; no field: the default.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from ag2api.accounts.model import Account
from ag2api.config.checks import PROXY_SCHEMES
from ag2api.redact import mask_url_credentials
from ag2api.upstream.client import CallSettings

DIRECT = "direct"


def check_proxy(value: Any) -> str | None:
    """The field's value if valid; raises ValueError naming what is wrong."""
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"must be a proxy URL ({', '.join(PROXY_SCHEMES)}) or {DIRECT!r}")
    value = value.strip()
    if value.lower() in (DIRECT, "none"):
        return DIRECT
    if not value.lower().startswith(PROXY_SCHEMES) or "://" not in value[:10]:
        raise ValueError(f"must start with one of {', '.join(PROXY_SCHEMES)}, or be {DIRECT!r}")
    host = value.split("://", 1)[1].rpartition("@")[2].split("/", 1)[0]
    if not host or host.startswith(":"):
        raise ValueError("names no proxy host")
    return value


def check_user_agent(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip() or any(c in value for c in "\r\n"):
        raise ValueError("must be a single-line, non-empty text")
    return value.strip()


def effective_proxy(account_proxy: str | None, default: str | None) -> str | None:
    """What an account's calls use: its own proxy, else the default; ``"direct"`` stays as is."""
    return account_proxy or default


def curl_proxy(proxy: str | None) -> str | None:
    """libcurl's PROXY value: None leaves libcurl's default (the environment's proxy variables),
    "" switches every proxy off (``direct``)."""
    if proxy is None:
        return None
    return "" if proxy == DIRECT else proxy


def mask_proxy(proxy: str | None) -> str:
    """A proxy as it may be shown: no user name or password."""
    if proxy == DIRECT:
        return DIRECT
    return mask_url_credentials(proxy)


# Where the way out an account takes is set (for the views).
OWN, DEFAULT, ENVIRONMENT, UNSET = "account", "upstream.proxy", "environment", "none"
# What libcurl reads for an https:// URL when no proxy is set (the upstream is HTTPS).
_ENV_PROXIES = ("https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY")


def shown_proxy(
    account_proxy: str | None, default: str | None, environ: Mapping[str, str] = os.environ
) -> tuple[str, str]:
    """The way out an account's calls take, as it may be shown, and where that is set: its own
    ``proxy`` (``"direct"`` included), else ``upstream.proxy``, else the environment's proxy
    variables (libcurl follows them when nothing is set), else none (``"direct"``)."""
    if account_proxy:
        return mask_proxy(account_proxy), OWN
    if default:
        return mask_proxy(default), DEFAULT
    from_env = next((environ[name] for name in _ENV_PROXIES if environ.get(name)), None)
    if from_env:
        return mask_proxy(from_env), ENVIRONMENT
    return DIRECT, UNSET


def routed(settings: CallSettings, account: Account) -> CallSettings:
    """``settings`` for one account's upstream call: its proxy and User-Agent when it has them."""
    if account.proxy is None and account.user_agent is None:
        return settings
    return replace(
        settings,
        proxy=curl_proxy(account.proxy) if account.proxy is not None else settings.proxy,
        user_agent=account.user_agent or settings.user_agent,
    )
