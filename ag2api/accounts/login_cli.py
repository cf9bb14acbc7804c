"""``ag2api login`` (and ``scripts/oauth_server.py``): its options, and the sign-in of
:mod:`.login` run from a terminal — the address printed (and opened in a browser), the callback
awaited, the outcome printed; a failure is reported, and tokens.json left as it was.
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
import webbrowser
from pathlib import Path

from ag2api.accounts.callback import CallbackServer
from ag2api.accounts.crypto import BadKey, TokenCipher, load_cipher
from ag2api.accounts.google_calls import API_BASE, GoogleCallFailed, Route
from ag2api.accounts.login import (
    AUTH_URL,
    CALLBACK_PATH,
    CALLBACK_PORT,
    USERINFO_URL,
    OAuthFailure,
    Started,
    authorization_url,
    choose_client,
    pkce_pair,
    sign_in_and_save,
)
from ag2api.accounts.proxies import check_proxy, mask_proxy
from ag2api.accounts.store import read_tokens, require_key_opens
from ag2api.redact import mask


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
