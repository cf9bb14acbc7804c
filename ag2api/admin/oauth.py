"""Adding an account from the console: the sign-in flow of ``ag2api login``, started from the page.

The page asks for a sign-in; the gateway makes the consent address (PKCE, a random ``state``) and
keeps the verifier. Google sends the browser back either

* to the gateway itself, ``/admin/oauth/callback`` — when the browser reaches the gateway on a
  loopback address (the installed-app client accepts only those), e.g. through an SSH tunnel; or
* to ``http://localhost:51121/oauth-callback``, which the browser cannot open when the gateway
  is elsewhere: the person pastes that address into the console.

Either way the ``state`` names the sign-in (the SameSite=Strict session cookie is not sent on
Google's redirect, and need not be: only the signed-in operator ever saw the state). The code is
exchanged, the email and Cloud project looked up and the account saved to tokens.json by
:mod:`ag2api.accounts.login`'s own steps, off the event loop; the running gateway picks it up
like any other edit. A sign-in not finished within ``LIFETIME`` seconds is forgotten.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
import urllib.parse
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ag2api.accounts.login import (
    AUTH_URL,
    CALLBACK_PATH,
    USERINFO_URL,
    OAuthFailure,
    authorization_url,
    find_project,
    http_json,
    parse_redirect,
    pkce_pair,
    save_account,
)
from ag2api.accounts.model import OAuthConfig
from ag2api.redact import mask

GATEWAY_CALLBACK = "/admin/oauth/callback"
PASTE_REDIRECT = f"http://localhost:51121{CALLBACK_PATH}"
LIFETIME = 900.0
KEPT = 20


@dataclass(frozen=True)
class SignInEndpoints:
    """Google's addresses for a sign-in (tests point them at the fake)."""

    auth_url: str = AUTH_URL
    userinfo_url: str = USERINFO_URL
    onboard_polls: int = 10
    onboard_interval: float = 3.0


@dataclass
class SignIn:
    id: str
    state: str
    verifier: str
    redirect_uri: str
    consent_url: str
    mode: str  # "callback" (the gateway's own address) or "paste"
    started: float
    status: str = "waiting"  # → "working" → "done" | "failed"
    message: str = ""
    account: str | None = None  # the masked project once saved
    email: str | None = None
    started_by: str = "-"  # as the write log names the operator

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "mode": self.mode,
            "consent_url": self.consent_url,
            "redirect_uri": self.redirect_uri,
            "status": self.status,
            "message": self.message,
            "account": self.account,
            "email": self.email,
        }


@dataclass
class SignIns:
    """The sign-ins in progress (in memory, bounded, forgotten after ``LIFETIME``)."""

    clock: Callable[[], float] = time.monotonic
    endpoints: SignInEndpoints = field(default_factory=SignInEndpoints)
    _by_id: OrderedDict[str, SignIn] = field(default_factory=OrderedDict)

    def start(self, client: OAuthConfig, redirect_uri: str, mode: str, by: str) -> SignIn:
        self._expire()
        verifier, challenge = pkce_pair()
        state = secrets.token_urlsafe(24)
        url = authorization_url(
            self.endpoints.auth_url, client.client_id, redirect_uri, state, challenge
        )
        sign_in = SignIn(
            secrets.token_urlsafe(12),
            state,
            verifier,
            redirect_uri,
            url,
            mode,
            self.clock(),
            started_by=by,
        )
        self._by_id[sign_in.id] = sign_in
        while len(self._by_id) > KEPT:
            self._by_id.popitem(last=False)
        return sign_in

    def get(self, sign_in_id: str) -> SignIn | None:
        self._expire()
        return self._by_id.get(sign_in_id)

    def by_state(self, state: str) -> SignIn | None:
        self._expire()
        wanted = hashlib.sha256(state.encode()).digest()
        for sign_in in self._by_id.values():
            if hmac.compare_digest(hashlib.sha256(sign_in.state.encode()).digest(), wanted):
                return sign_in
        return None

    def _expire(self) -> None:
        now = self.clock()
        for key in [k for k, s in self._by_id.items() if now - s.started > LIFETIME]:
            del self._by_id[key]


def state_of(redirect: str) -> str:
    """The ``state`` parameter of an address Google sent the browser to ("" when none)."""
    query = urllib.parse.parse_qs(urllib.parse.urlparse(redirect.strip()).query)
    return query.get("state", [""])[0]


def finish(
    sign_in: SignIn,
    redirect: str,
    client: OAuthConfig,
    endpoints: SignInEndpoints,
    api_base: str,
    tokens_file: Path,
) -> None:
    """Exchange the code, look up the account and save it (blocking: run off the loop). The
    outcome is left on ``sign_in``; tokens.json is unchanged by any failure."""
    sign_in.status = "working"
    try:
        code = parse_redirect(redirect, sign_in.state)
        tokens = http_json(
            client.token_url,
            form={
                "grant_type": "authorization_code",
                "code": code,
                "client_id": client.client_id,
                "client_secret": client.client_secret,
                "redirect_uri": sign_in.redirect_uri,
                "code_verifier": sign_in.verifier,
            },
        )
        if not tokens.get("refresh_token") or not tokens.get("access_token"):
            raise OAuthFailure("The token endpoint gave no refresh token (was consent skipped?).")
        email: Any = None
        try:
            email = http_json(endpoints.userinfo_url, token=tokens["access_token"]).get("email")
        except OAuthFailure:
            email = None  # the account still works without it
        project = find_project(
            api_base, tokens["access_token"], endpoints.onboard_polls, endpoints.onboard_interval
        )
        new = save_account(
            tokens_file,
            client_id=client.client_id,
            client_secret=client.client_secret,
            token_url=client.token_url,
            project=project,
            tokens=tokens,
            email=email if isinstance(email, str) and email else None,
        )
    except (OAuthFailure, ValueError, OSError) as exc:
        sign_in.status, sign_in.message = "failed", str(exc)
        return
    sign_in.status = "done"
    sign_in.account, sign_in.email = mask(project), email if isinstance(email, str) else None
    sign_in.message = f"{'Added' if new else 'Updated'} account {mask(project)}" + (
        f" ({email})" if sign_in.email else ""
    )
