"""Adding an account from the console: the sign-in flow of ``ag2api login``, started from the page.

The page asks for a sign-in; the gateway makes the consent address (PKCE, a random ``state``) and
keeps the verifier. Google sends the browser back either

* to the gateway itself, ``/admin/oauth/callback`` — when the browser reaches the gateway on a
  loopback address (the installed-app client accepts only those), e.g. through an SSH tunnel; or
* to ``http://localhost:51121/oauth-callback``, which the browser cannot open when the gateway
  is elsewhere: the person pastes that address into the console.

Either way the ``state`` names the sign-in (the SameSite=Strict session cookie is not sent on
Google's redirect, and need not be: only the signed-in operator ever saw the state). The code is
exchanged, the email and Cloud project looked up and the account saved to tokens.json (sealed
with the gateway's key when one is set) by :mod:`ag2api.accounts.login`'s own steps, off the
event loop; the running gateway picks it up
like any other edit. A sign-in not finished within ``LIFETIME`` seconds is forgotten.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import os
import secrets
import time
import urllib.parse
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ag2api.accounts.crypto import TokenCipher
from ag2api.accounts.google_calls import GoogleCallFailed, Route
from ag2api.accounts.login import (
    AUTH_URL,
    CALLBACK_PATH,
    CALLBACK_PORT,
    USERINFO_URL,
    Started,
    authorization_url,
    choose_client,
    pkce_pair,
    sign_in_and_save,
)
from ag2api.accounts.model import OAuthConfig
from ag2api.config.schema import GatewayConfig
from ag2api.redact import mask

GATEWAY_CALLBACK = "/admin/oauth/callback"
PASTE_REDIRECT = f"http://localhost:{CALLBACK_PORT}{CALLBACK_PATH}"
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
    cfg: GatewayConfig,
    cipher: TokenCipher,
) -> None:
    """Exchange the code, look up the account and save it — ``ag2api login``'s own steps
    (blocking: run off the loop). The outcome is left on ``sign_in``; tokens.json is unchanged
    by any failure."""
    sign_in.status = "working"
    upstream = cfg.upstream
    steps = argparse.Namespace(
        userinfo_url=endpoints.userinfo_url,
        api_base=upstream.base_urls[0],
        random_project=False,
        onboard_polls=endpoints.onboard_polls,
        onboard_interval=endpoints.onboard_interval,
    )
    route = Route(
        proxy=upstream.proxy,
        user_agent=upstream.user_agent,
        ca_file=str(upstream.ca_file) if upstream.ca_file else None,
    )
    started = Started(sign_in.state, sign_in.verifier, sign_in.redirect_uri)
    try:
        signed, new = sign_in_and_save(
            steps, redirect, started, client, route, cfg.tokens_file, cipher=cipher
        )
    except (GoogleCallFailed, ValueError, OSError) as exc:
        sign_in.status, sign_in.message = "failed", str(exc)
        return
    sign_in.status = "done"
    sign_in.account, sign_in.email = mask(signed.project), signed.email
    who = f" ({signed.email})" if signed.email else ""
    sign_in.message = f"{'Added' if new else 'Updated'} account {mask(signed.project)}{who}"


def sign_in_client(file_oauth: OAuthConfig | None) -> OAuthConfig:
    """The client new accounts sign in with, chosen as ``ag2api login`` chooses it (tokens.json's
    ``oauth_config``, ``AG2API_OAUTH_CLIENT_ID/_SECRET``, else the IDE's built-in client)."""
    none = argparse.Namespace(client_id=None, client_secret=None, token_url=None)
    return choose_client(none, file_oauth, dict(os.environ))[0]
