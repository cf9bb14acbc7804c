"""Add a Google account: OAuth consent in the browser → refresh token → tokens.json.

``ag2api login`` and ``scripts/oauth_server.py`` both run this flow from a terminal
(:mod:`.login_cli`). It runs a one-shot callback server on 127.0.0.1 (path /oauth-callback), checks
``state``, uses PKCE (S256), exchanges the code at the token URL, looks up the account's Cloud
project through loadCodeAssist (onboarding it with onboardUser when it has none), and adds the
project to tokens.json under its lock — updating the entry when the account or project is already
there. A running gateway picks the change up. Any failure leaves tokens.json as it was. The browser
tab says how it ended: "account added" only once the account is in tokens.json, the error otherwise.

The OAuth client is the Antigravity IDE's own unless one is given (:mod:`.oauth_client`).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import secrets
import time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ag2api.accounts.crypto import PLAINTEXT, TokenCipher
from ag2api.accounts.google_calls import GoogleCallFailed, Route, find_project, http_json
from ag2api.accounts.model import DEFAULT_TOKEN_URL, OAuthConfig
from ag2api.accounts.oauth_client import (
    BUILT_IN,
    IDE_CLIENT,
    ClientSetupError,
    env_client,
    pair,
    usable,
)
from ag2api.accounts.store import update_tokens

AUTH_URL = "https://accounts.google.com/o/oauth2/v2/auth"
TOKEN_URL = DEFAULT_TOKEN_URL
USERINFO_URL = "https://www.googleapis.com/oauth2/v2/userinfo?alt=json"
SCOPES = (
    "https://www.googleapis.com/auth/cloud-platform",
    "https://www.googleapis.com/auth/userinfo.email",
    "https://www.googleapis.com/auth/userinfo.profile",
    "https://www.googleapis.com/auth/cclog",
    "https://www.googleapis.com/auth/experimentsandconfigs",
)
CALLBACK_PATH = "/oauth-callback"
CALLBACK_PORT = 51121  # the IDE's, and every peer's


class OAuthFailure(GoogleCallFailed):
    """A failure already phrased for the person running the script."""


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(64)[:96]
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    return verifier, challenge.rstrip(b"=").decode()


def authorization_url(
    auth_url: str, client_id: str, redirect_uri: str, state: str, challenge: str
) -> str:
    query = urllib.parse.urlencode(
        {
            "access_type": "offline",
            "prompt": "consent",
            "response_type": "code",
            "client_id": client_id,
            "redirect_uri": redirect_uri,
            "scope": " ".join(SCOPES),
            "state": state,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
    )
    return f"{auth_url}?{query}"


def parse_redirect(url: str, state: str) -> str:
    """The authorization code from the address the browser was sent back to."""
    query = urllib.parse.parse_qs(urllib.parse.urlparse(url.strip()).query)
    if "error" in query:
        raise OAuthFailure(
            f"Google refused the authorization: {query['error'][0]} (consent denied or cancelled)"
        )
    if query.get("state", [""])[0] != state:
        raise OAuthFailure("The callback's state does not match this login; start again.")
    code = query.get("code", [""])[0]
    if not code:
        raise OAuthFailure("The callback carried no authorization code.")
    return code


def choose_client(
    args: argparse.Namespace, file_oauth: OAuthConfig | None, environ: dict[str, str]
) -> tuple[OAuthConfig, str]:
    """The client to sign in with, and where it came from (for the terminal)."""
    token_url = args.token_url or (file_oauth.token_url if file_oauth else TOKEN_URL)
    try:
        if args.client_id or args.client_secret:
            given = pair(args.client_id or "", args.client_secret or "", "--client-id/--secret")
            return OAuthConfig(given.client_id, given.client_secret, token_url), "--client-id"
        if (found := usable(file_oauth)) is not None:
            return OAuthConfig(found.client_id, found.client_secret, token_url), "oauth_config"
        if (env := env_client(environ, token_url)) is not None:
            return env, "the environment"
    except ClientSetupError as exc:
        raise OAuthFailure(str(exc)) from None
    builtin = OAuthConfig(IDE_CLIENT.client_id, IDE_CLIENT.client_secret, token_url)
    return builtin, "the Antigravity IDE's built-in client"


def save_account(
    path: Path,
    *,
    client_id: str,
    client_secret: str,
    token_url: str,
    project: str,
    tokens: dict[str, Any],
    email: str | None,
    proxy: str | None = None,
    cipher: TokenCipher = PLAINTEXT,
) -> bool:
    """Add or update the project under the lock; True when it was new.

    A client other than the one the gateway refreshes with by default is written down: as the
    file's ``oauth_config`` when it has none (and the client is not built in, or its token URL
    is not Google's), else as the project's ``client_id``.
    """
    added = {"new": True}
    builtin = any(c.client_id == client_id for c in BUILT_IN)

    def mutate(doc: dict[str, Any]) -> None:
        current = doc.get("oauth_config")
        file_client = (
            usable(OAuthConfig(str(current.get("client_id")), str(current.get("client_secret"))))
            if isinstance(current, dict)
            else None
        )
        if file_client is None and (not builtin or token_url != DEFAULT_TOKEN_URL):
            doc["oauth_config"] = {
                "client_id": client_id,
                "client_secret": client_secret,
                "token_url": token_url,
            }
            file_client = OAuthConfig(client_id, client_secret)
        default = file_client or IDE_CLIENT
        projects = doc.setdefault("projects", [])
        entry = next(
            (
                p
                for p in projects
                if isinstance(p, dict)
                and (p.get("project_id") == project or (email and p.get("email") == email))
            ),
            None,
        )
        # mutate may run again when the file changed under the writer: decide afresh each time.
        added["new"] = entry is None
        if entry is None:
            entry = {"project_id": project}
            projects.append(entry)
        entry.update(
            {
                "project_id": project,
                "refresh_token": tokens["refresh_token"],
                "access_token": tokens.get("access_token"),
                "expires_at": int(time.time() + float(tokens.get("expires_in", 3599))),
                "enabled": True,
                "disabled_reason": None,
            }
        )
        entry.pop("cooldowns", None)  # a new login starts clean
        if client_id != default.client_id:
            entry["client_id"] = client_id
        else:
            entry.pop("client_id", None)
        if email:
            entry["email"] = email
        if proxy:
            entry["proxy"] = proxy

    update_tokens(path, mutate, cipher=cipher)
    return added["new"]


@dataclass(frozen=True)
class SignedIn:
    project: str
    tokens: dict[str, Any]
    email: str | None


@dataclass(frozen=True)
class Started:
    """A sign-in sent to Google: what its redirect is checked and its code exchanged with."""

    state: str
    verifier: str  # PKCE
    redirect_uri: str


def sign_in_and_save(
    steps: argparse.Namespace,
    redirect: str,
    started: Started,
    client: OAuthConfig,
    route: Route,
    tokens_file: Path,
    *,
    cipher: TokenCipher = PLAINTEXT,
    proxy: str | None = None,
) -> tuple[SignedIn, bool]:
    """Finish a sign-in from the address Google sent the browser to (:func:`complete`) and save
    the account (:func:`save_account`): who signed in, and whether the account is new. Blocking;
    any failure leaves tokens.json as it was. ``ag2api login`` and the console both end here."""
    signed = complete(
        steps, redirect, started.state, started.verifier, started.redirect_uri, client, route
    )
    new = save_account(
        tokens_file,
        client_id=client.client_id,
        client_secret=client.client_secret,
        token_url=client.token_url,
        project=signed.project,
        tokens=signed.tokens,
        email=signed.email,
        proxy=proxy,
        cipher=cipher,
    )
    return signed, new


def complete(
    args: argparse.Namespace,
    redirect: str,
    state: str,
    verifier: str,
    redirect_uri: str,
    client: OAuthConfig,
    route: Route,
) -> SignedIn:
    """State check, code exchange, email, project."""
    code = parse_redirect(redirect, state)
    tokens = http_json(
        client.token_url,
        route,
        form={
            "grant_type": "authorization_code",
            "code": code,
            "client_id": client.client_id,
            "client_secret": client.client_secret,
            "redirect_uri": redirect_uri,
            "code_verifier": verifier,
        },
    )
    if not tokens.get("refresh_token") or not tokens.get("access_token"):
        raise OAuthFailure("The token endpoint gave no refresh token (was consent skipped?).")
    email = None
    try:
        email = http_json(args.userinfo_url, route, token=tokens["access_token"]).get("email")
    except GoogleCallFailed as exc:
        print(f"(could not read the account's email: {exc})", flush=True)
    if args.random_project:
        project = f"ag2api-{secrets.token_hex(4)}"
    else:
        project = find_project(
            args.api_base, tokens["access_token"], route, args.onboard_polls, args.onboard_interval
        )
    return SignedIn(project, tokens, email if isinstance(email, str) and email else None)
