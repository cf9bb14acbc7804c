"""The blocking Google calls of the account commands (login, import): the token endpoint,
userinfo, loadCodeAssist and onboardUser. The running gateway makes its own calls on its loop.

They go through libcurl, like the gateway's, so an account's proxy (http, https, socks5) is used
for them too.
"""

from __future__ import annotations

import io
import json
import time
import urllib.parse
from dataclasses import dataclass
from typing import Any

import pycurl

from ag2api.accounts.model import OAuthConfig
from ag2api.accounts.proxies import curl_proxy, mask_proxy

API_BASE = "https://cloudcode-pa.googleapis.com"
USER_AGENT = "antigravity/hub/2.9.1 darwin/arm64"
LOAD_BODY = {"metadata": {"ideType": "ANTIGRAVITY"}}


class GoogleCallFailed(Exception):
    """A failure already phrased for the person running the command."""

    def __init__(self, message: str, status: int = 0, error: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.error = error  # the OAuth "error" field, if the answer had one


@dataclass(frozen=True)
class Route:
    """How an account's calls leave this machine."""

    proxy: str | None = None  # None: libcurl's default (environment); "direct": no proxy
    user_agent: str = USER_AGENT
    timeout: float = 30.0
    ca_file: str | None = None


def http_json(
    url: str,
    route: Route,
    *,
    data: dict[str, Any] | None = None,
    form: dict[str, str] | None = None,
    token: str | None = None,
) -> dict[str, Any]:
    headers = ["Accept: application/json", f"User-Agent: {route.user_agent}", "Expect:"]
    curl = pycurl.Curl()
    out = io.BytesIO()
    try:
        curl.setopt(pycurl.URL, url)
        curl.setopt(pycurl.NOSIGNAL, 1)
        curl.setopt(pycurl.VERBOSE, 0)  # its trace would print the Authorization header
        curl.setopt(pycurl.CONNECTTIMEOUT_MS, int(route.timeout * 1000))
        curl.setopt(pycurl.TIMEOUT_MS, int(route.timeout * 1000))
        curl.setopt(pycurl.WRITEDATA, out)
        proxy = curl_proxy(route.proxy)
        if proxy is not None:
            curl.setopt(pycurl.PROXY, proxy)
            curl.setopt(pycurl.NOPROXY, "")
        if route.ca_file:
            curl.setopt(pycurl.CAINFO, route.ca_file)
        if form is not None:
            curl.setopt(pycurl.POSTFIELDS, urllib.parse.urlencode(form))
            headers.append("Content-Type: application/x-www-form-urlencoded")
        elif data is not None:
            curl.setopt(pycurl.POSTFIELDS, json.dumps(data))
            headers.append("Content-Type: application/json")
        if token:
            headers.append(f"Authorization: Bearer {token}")
        curl.setopt(pycurl.HTTPHEADER, headers)
        try:
            curl.perform()
        except pycurl.error as exc:
            via = f" through proxy {mask_proxy(route.proxy)}" if proxy else ""
            raise GoogleCallFailed(f"{url} could not be reached{via}: {exc.args[-1]}") from None
        status = int(curl.getinfo(pycurl.RESPONSE_CODE))
    finally:
        curl.close()
    body = out.getvalue()
    try:
        parsed = json.loads(body or b"{}")
    except ValueError:
        parsed = None
    if status != 200:
        error = str(parsed.get("error", "")) if isinstance(parsed, dict) else ""
        detail = body.decode("utf-8", "replace")[:300]
        raise GoogleCallFailed(f"{url} answered HTTP {status}: {detail}", status, error)
    if not isinstance(parsed, dict):
        raise GoogleCallFailed(f"{url} answered with something that is not a JSON object")
    return parsed


def refresh_access_token(client: OAuthConfig, refresh_token: str, route: Route) -> dict[str, Any]:
    """A new access token (the token endpoint's answer) for ``refresh_token``."""
    return http_json(
        client.token_url,
        route,
        form={
            "client_id": client.client_id,
            "client_secret": client.client_secret,
            "grant_type": "refresh_token",
            "refresh_token": refresh_token,
        },
    )


def find_project(
    api_base: str, token: str, route: Route, polls: int = 10, interval: float = 3.0
) -> str:
    """loadCodeAssist → cloudaicompanionProject; onboardUser (polled) when there is none."""
    loaded = http_json(f"{api_base}/v1internal:loadCodeAssist", route, token=token, data=LOAD_BODY)
    project = project_id_of(loaded.get("cloudaicompanionProject"))
    if project:
        return project
    blocked = verification_needed(loaded)
    if blocked is not None:
        raise GoogleCallFailed(
            "Google asks this account to verify itself before it can use Antigravity: "
            f"open {blocked} in a browser signed in to it, then try again."
        )
    tiers = loaded.get("allowedTiers") or []
    tier = next((t.get("id") for t in tiers if isinstance(t, dict) and t.get("isDefault")), None)
    tier = tier or (loaded.get("currentTier") or {}).get("id") or "free-tier"
    for _ in range(polls):
        op = http_json(
            f"{api_base}/v1internal:onboardUser",
            route,
            token=token,
            data={"tierId": tier, "metadata": {"ideType": "ANTIGRAVITY"}},
        )
        if op.get("done"):
            project = project_id_of((op.get("response") or {}).get("cloudaicompanionProject"))
            if project:
                return project
            break
        time.sleep(interval)
    raise GoogleCallFailed(
        "This account has no Antigravity project and onboarding did not give one"
        " (is the account eligible? see the ineligible tiers in Antigravity)."
    )


def verification_needed(loaded: dict[str, Any]) -> str | None:
    """The verification link when loadCodeAssist says the account must verify itself first."""
    for tier in loaded.get("ineligibleTiers") or ():
        if isinstance(tier, dict) and tier.get("reasonCode") == "VALIDATION_REQUIRED":
            url = tier.get("validationUrl")
            return url if isinstance(url, str) and url else "the link Antigravity shows"
    return None


def project_id_of(value: Any) -> str | None:
    if isinstance(value, dict):
        value = value.get("id")
    return value if isinstance(value, str) and value else None
