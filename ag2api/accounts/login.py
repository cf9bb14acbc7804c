"""Add a Google account: OAuth consent in the browser → refresh token → tokens.json.

``ag2api login`` and ``scripts/oauth_server.py`` both run this flow. It runs a one-shot callback
server on 127.0.0.1 (path /oauth-callback), checks ``state``, uses PKCE (S256), exchanges the code
at the token URL, looks up the account's Cloud project through loadCodeAssist (onboarding it with
onboardUser when it has none), and adds the project to tokens.json under its lock — updating the
entry when the account or project is already there. A running gateway picks the change up. Any
failure leaves tokens.json as it was. The browser tab says how it ended: "account added" only once
the account is in tokens.json, the error otherwise.

The OAuth client is the Antigravity IDE's own unless one is given (:mod:`.oauth_client`).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import os
import secrets
import sys
import time
import urllib.parse
import webbrowser
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ag2api.accounts.callback import CallbackServer
from ag2api.accounts.crypto import PLAINTEXT, BadKey, TokenCipher, load_cipher
from ag2api.accounts.google_calls import (
    API_BASE,
    GoogleCallFailed,
    Route,
    find_project,
    http_json,
)
from ag2api.accounts.model import DEFAULT_TOKEN_URL, OAuthConfig
from ag2api.accounts.oauth_client import (
    BUILT_IN,
    IDE_CLIENT,
    ClientSetupError,
    env_client,
    pair,
    usable,
)
from ag2api.accounts.proxies import check_proxy, mask_proxy
from ag2api.accounts.store import read_tokens, require_key_opens, update_tokens
from ag2api.redact import mask

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


def run(args: argparse.Namespace) -> int:
    existing = read_tokens(args.tokens)
    client, source = choose_client(args, existing.oauth, dict(os.environ))
    cipher = resolve_cipher(args)
    require_key_opens(args.tokens, cipher)  # before the sign-in, not after it
    own_proxy = check_login_proxy(args.proxy)
    route = Route(proxy=own_proxy or getattr(args, "default_proxy", None))
    redirect_uri = f"http://localhost:{args.port}{CALLBACK_PATH}"
    verifier, challenge = pkce_pair()
    state = secrets.token_urlsafe(24)
    url = authorization_url(args.auth_url, client.client_id, redirect_uri, state, challenge)
    callback = CallbackServer(args.port, CALLBACK_PATH)
    try:
        print(f"Signing in with {source}.", flush=True)
        print(
            f"Open this address to sign in with the Google account to add:\n\n  {url}\n", flush=True
        )
        if args.no_browser:
            print(
                "If the browser cannot reach this machine, paste the full address it ends on "
                "here and press Enter.",
                flush=True,
            )
        else:
            webbrowser.open(url)
        arrival = callback.wait(args.timeout, args.no_browser)
        try:
            signed, new = sign_in_and_save(
                args,
                arrival.url,
                Started(state, verifier, redirect_uri),
                client,
                route,
                args.tokens,
                cipher=cipher,
                proxy=own_proxy,
            )
        except Exception as exc:
            arrival.reply(False, f"Sign-in failed: {exc}")
            raise
        who = f" ({signed.email})" if signed.email else ""
        via = f" Its calls go through {mask_proxy(own_proxy)}." if own_proxy else ""
        done = (
            f"{'Added' if new else 'Updated'} project {mask(signed.project)}{who} in "
            f"{args.tokens}. A running gateway uses it now.{via}"
        )
        arrival.reply(True, f"{done} You can close this tab.")
    finally:
        callback.close()
    print(done, flush=True)
    return 0


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


def resolve_cipher(args: argparse.Namespace) -> TokenCipher:
    """The key tokens.json is written with: the caller's, else AG2API_SECRET_KEY."""
    given = getattr(args, "cipher", None)
    if isinstance(given, TokenCipher):
        return given
    try:
        return load_cipher(os.environ, None)
    except BadKey as exc:
        raise OAuthFailure(str(exc)) from None


def check_login_proxy(value: str | None) -> str | None:
    try:
        return check_proxy(value)
    except ValueError as exc:
        raise OAuthFailure(f"--proxy {exc}") from None


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The login options (all but --tokens, whose default depends on the caller)."""
    p.add_argument(
        "--port", type=int, default=CALLBACK_PORT, help=f"callback port (default {CALLBACK_PORT})"
    )
    p.add_argument(
        "--no-browser",
        action="store_true",
        help="do not open a browser; print the address, then paste the address it ends on",
    )
    p.add_argument("--timeout", type=float, default=300, help="seconds to wait for the login")
    p.add_argument(
        "--client-id",
        help="OAuth client id (default: tokens.json oauth_config, $AG2API_OAUTH_CLIENT_ID, "
        "else the Antigravity IDE's built-in client)",
    )
    p.add_argument("--client-secret", help="OAuth client secret")
    p.add_argument("--token-url", help="token endpoint (default: oauth_config.token_url)")
    p.add_argument(
        "--proxy",
        help="http://, https://, socks5:// proxy (or 'direct') for this account: used for the "
        "sign-in and saved as the project's proxy",
    )
    p.add_argument("--auth-url", default=AUTH_URL, help=argparse.SUPPRESS)
    p.add_argument("--userinfo-url", default=USERINFO_URL, help=argparse.SUPPRESS)
    p.add_argument("--api-base", default=API_BASE, help="Antigravity host for loadCodeAssist")
    p.add_argument("--onboard-polls", type=int, default=10, help=argparse.SUPPRESS)
    p.add_argument("--onboard-interval", type=float, default=3.0, help=argparse.SUPPRESS)
    p.add_argument(
        "--random-project",
        action="store_true",
        help="skip the project lookup and invent an id (legacy; usually rejected)",
    )


def login(args: argparse.Namespace, prog: str) -> int:
    """Run the flow for parsed ``args`` (``args.tokens`` set); failures are reported, not raised."""
    args.tokens = Path(args.tokens).resolve()
    try:
        return run(args)
    except GoogleCallFailed as exc:
        print(f"{prog}: {exc}\ntokens.json was not changed.", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"\n{prog}: cancelled; tokens.json was not changed.", file=sys.stderr)
        return 1
    except (ValueError, OSError) as exc:  # an unreadable or unwritable tokens.json
        print(f"{prog}: {exc}", file=sys.stderr)
        return 1
