"""Add a Google account: OAuth consent in the browser → refresh token → tokens.json.

``ag2api login`` and ``scripts/oauth_server.py`` both run this flow. It runs a one-shot callback
server on 127.0.0.1 (path /oauth-callback), checks ``state``, uses PKCE (S256), exchanges the code
at the token URL, looks up the account's Cloud project through loadCodeAssist (onboarding it with
onboardUser when it has none), and adds the project to tokens.json under its lock — updating the
entry when the account or project is already there. A running gateway picks the change up. Any
failure leaves tokens.json as it was.

The OAuth client id and secret come from tokens.json ``oauth_config`` or --client-id/--client-secret
(ag2api does not ship them).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import http.server
import json
import queue
import secrets
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import webbrowser
from pathlib import Path
from typing import Any

from ag2api.accounts.store import read_tokens, update_tokens
from ag2api.redact import mask

AUTH_URL = "https://accounts.google.com/o/oauth2/v2/auth"
TOKEN_URL = "https://oauth2.googleapis.com/token"
USERINFO_URL = "https://www.googleapis.com/oauth2/v2/userinfo?alt=json"
API_BASE = "https://cloudcode-pa.googleapis.com"
SCOPES = (
    "https://www.googleapis.com/auth/cloud-platform",
    "https://www.googleapis.com/auth/userinfo.email",
    "https://www.googleapis.com/auth/userinfo.profile",
    "https://www.googleapis.com/auth/cclog",
    "https://www.googleapis.com/auth/experimentsandconfigs",
)
CALLBACK_PATH = "/oauth-callback"
USER_AGENT = "antigravity/hub/2.9.1 darwin/arm64"


def is_placeholder(value: str) -> bool:
    """A value still as data/tokens.json.example has it (``YOUR_…``)."""
    return value.startswith("YOUR_")


class OAuthFailure(Exception):
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


class _Callback(http.server.BaseHTTPRequestHandler):
    results: queue.Queue[str]

    def do_GET(self) -> None:
        if not self.path.startswith(CALLBACK_PATH):
            self.send_error(404)
            return
        self.results.put(f"http://127.0.0.1{self.path}")
        query = urllib.parse.parse_qs(urllib.parse.urlparse(self.path).query)
        ok = "code" in query
        body = (
            "ag2api: account received, you can close this tab."
            if ok
            else "ag2api: authorization failed, see the terminal."
        ).encode()
        self.send_response(200 if ok else 400)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # keep the terminal clean
        pass


class CallbackServer:
    """The one-shot callback listener; bound before the URL is shown, so no redirect is lost."""

    def __init__(self, port: int) -> None:
        self.results: queue.Queue[str] = queue.Queue()
        handler = type("Callback", (_Callback,), {"results": self.results})
        try:
            self.server = http.server.HTTPServer(("127.0.0.1", port), handler)
        except OSError as exc:
            raise OAuthFailure(
                f"Cannot listen on 127.0.0.1:{port} ({exc.strerror}); free the port or pass --port."
            ) from None
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait(self, timeout: float, paste: bool) -> str:
        """The redirect URL, from the browser or (headless) pasted on standard input."""
        if paste:
            threading.Thread(target=self._read_stdin, daemon=True).start()
        try:
            return self.results.get(timeout=timeout)
        except queue.Empty:
            raise OAuthFailure(f"No authorization arrived within {timeout:.0f}s.") from None

    def _read_stdin(self) -> None:
        line = sys.stdin.readline()
        if line.strip():
            self.results.put(line.strip())

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def http_json(
    url: str,
    *,
    data: dict[str, Any] | None = None,
    form: dict[str, str] | None = None,
    token: str | None = None,
    timeout: float = 30,
) -> dict[str, Any]:
    headers = {"Accept": "application/json", "User-Agent": USER_AGENT}
    body: bytes | None = None
    if form is not None:
        body = urllib.parse.urlencode(form).encode()
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    elif data is not None:
        body = json.dumps(data).encode()
        headers["Content-Type"] = "application/json"
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(
        url, data=body, headers=headers, method="POST" if body is not None else "GET"
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode("utf-8", "replace")[:300]
        raise OAuthFailure(f"{url} answered HTTP {exc.code}: {detail}") from None
    except (urllib.error.URLError, TimeoutError, ValueError) as exc:
        raise OAuthFailure(f"{url} could not be reached: {exc}") from None


def find_project(api_base: str, token: str, polls: int, interval: float) -> str:
    """loadCodeAssist → cloudaicompanionProject; onboardUser (polled) when there is none."""
    loaded = http_json(
        f"{api_base}/v1internal:loadCodeAssist",
        token=token,
        data={"metadata": {"ideType": "ANTIGRAVITY"}},
    )
    project = _project_id(loaded.get("cloudaicompanionProject"))
    if project:
        return project
    tiers = loaded.get("allowedTiers") or []
    tier = next((t.get("id") for t in tiers if isinstance(t, dict) and t.get("isDefault")), None)
    tier = tier or (loaded.get("currentTier") or {}).get("id") or "free-tier"
    for _ in range(polls):
        op = http_json(
            f"{api_base}/v1internal:onboardUser",
            token=token,
            data={"tierId": tier, "metadata": {"ideType": "ANTIGRAVITY"}},
        )
        if op.get("done"):
            project = _project_id((op.get("response") or {}).get("cloudaicompanionProject"))
            if project:
                return project
            break
        time.sleep(interval)
    raise OAuthFailure(
        "This account has no Antigravity project and onboarding did not give one"
        " (is the account eligible? see the ineligible tiers in Antigravity)."
    )


def _project_id(value: Any) -> str | None:
    if isinstance(value, dict):
        value = value.get("id")
    return value if isinstance(value, str) and value else None


def save_account(
    path: Path,
    *,
    client_id: str,
    client_secret: str,
    token_url: str,
    project: str,
    tokens: dict[str, Any],
    email: str | None,
) -> bool:
    """Add or update the project under the lock; True when it was new."""
    added = {"new": True}

    def mutate(doc: dict[str, Any]) -> None:
        doc.setdefault(
            "oauth_config",
            {"client_id": client_id, "client_secret": client_secret, "token_url": token_url},
        )
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
        if email:
            entry["email"] = email

    update_tokens(path, mutate)
    return added["new"]


def run(args: argparse.Namespace) -> int:
    existing = read_tokens(args.tokens)
    oauth = existing.oauth
    client_id = args.client_id or (oauth.client_id if oauth else None)
    client_secret = args.client_secret or (oauth.client_secret if oauth else None)
    if not client_id or not client_secret:
        raise OAuthFailure(
            "No OAuth client: put client_id/client_secret in tokens.json "
            "oauth_config or pass --client-id and --client-secret."
        )
    if is_placeholder(client_id) or is_placeholder(client_secret):
        raise OAuthFailure(
            f"oauth_config in {args.tokens} still holds the example's placeholders: put the "
            "Antigravity OAuth client id and secret there or pass --client-id and --client-secret."
        )
    token_url = args.token_url or (oauth.token_url if oauth else TOKEN_URL)
    redirect_uri = f"http://localhost:{args.port}{CALLBACK_PATH}"
    verifier, challenge = pkce_pair()
    state = secrets.token_urlsafe(24)
    url = authorization_url(args.auth_url, client_id, redirect_uri, state, challenge)
    callback = CallbackServer(args.port)
    try:
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
        redirect = callback.wait(args.timeout, args.no_browser)
    finally:
        callback.close()
    code = parse_redirect(redirect, state)
    tokens = http_json(
        token_url,
        form={
            "grant_type": "authorization_code",
            "code": code,
            "client_id": client_id,
            "client_secret": client_secret,
            "redirect_uri": redirect_uri,
            "code_verifier": verifier,
        },
    )
    if not tokens.get("refresh_token") or not tokens.get("access_token"):
        raise OAuthFailure("The token endpoint gave no refresh token (was consent skipped?).")
    email = None
    try:
        email = http_json(args.userinfo_url, token=tokens["access_token"]).get("email")
    except OAuthFailure as exc:
        print(f"(could not read the account's email: {exc})", flush=True)
    if args.random_project:
        project = f"ag2api-{secrets.token_hex(4)}"
    else:
        project = find_project(
            args.api_base, tokens["access_token"], args.onboard_polls, args.onboard_interval
        )
    new = save_account(
        args.tokens,
        client_id=client_id,
        client_secret=client_secret,
        token_url=token_url,
        project=project,
        tokens=tokens,
        email=email,
    )
    print(
        f"{'Added' if new else 'Updated'} project {mask(project)}"
        f"{f' ({email})' if email else ''} in {args.tokens}. A running gateway uses it now.",
        flush=True,
    )
    return 0


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The login options (all but --tokens, whose default depends on the caller)."""
    p.add_argument("--port", type=int, default=51121, help="callback port (default 51121)")
    p.add_argument(
        "--no-browser",
        action="store_true",
        help="do not open a browser; paste the final redirect address instead",
    )
    p.add_argument("--timeout", type=float, default=300, help="seconds to wait for the login")
    p.add_argument("--client-id", help="OAuth client id (default: tokens.json oauth_config)")
    p.add_argument("--client-secret", help="OAuth client secret")
    p.add_argument("--token-url", help="token endpoint (default: oauth_config.token_url)")
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
    except OAuthFailure as exc:
        print(f"{prog}: {exc}\ntokens.json was not changed.", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"\n{prog}: cancelled; tokens.json was not changed.", file=sys.stderr)
        return 1
    except (ValueError, OSError) as exc:  # an unreadable or unwritable tokens.json
        print(f"{prog}: {exc}", file=sys.stderr)
        return 1
