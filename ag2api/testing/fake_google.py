"""The fake's Google side: OAuth token endpoint, userinfo, loadCodeAssist, onboardUser, files."""

from __future__ import annotations

import base64
import hashlib
import html
import uuid
from typing import Any
from urllib.parse import parse_qs, urlencode

from tornado.web import RequestHandler

from ag2api.testing import fake_bodies as bodies
from ag2api.testing import fake_model
from ag2api.testing.fake_base import FakeHandler
from ag2api.testing.fake_state import FAKE_CLIENT_ID, FAKE_CLIENT_SECRET, Recorded

__all__ = ["FAKE_CLIENT_ID", "FAKE_CLIENT_SECRET"]  # the client tests write into tokens.json


class LoadCodeAssistHandler(FakeHandler):
    def post(self) -> None:
        self.record()
        account = self.check_auth()
        if account is None:
            return
        if account.needs_verification:
            self.finish(bodies.ineligible_verification())
            return
        body: dict[str, Any] = {
            "currentTier": {"id": "free-tier", "name": "Antigravity"},
            "allowedTiers": [{"id": "free-tier", "isDefault": True}],
            "gcpManaged": False,
        }
        if not account.needs_onboarding:
            body["cloudaicompanionProject"] = account.project_id
        if self.fake.pool is not None:  # the account's Google One AI credits
            body.update(self.fake.pool.paid_tier(account.project_id))
        self.finish(body)


class OnboardHandler(FakeHandler):
    def post(self) -> None:
        self.record()
        account = self.check_auth()
        if account is None:
            return
        account.onboard_calls += 1
        if account.onboard_calls <= self.fake.onboard_polls:
            self.finish({"name": "operations/onboard-1", "done": False})
            return
        account.needs_onboarding = False
        project = {"id": account.project_id, "name": account.project_id}
        self.finish(
            {
                "name": "operations/onboard-1",
                "done": True,
                "response": {"cloudaicompanionProject": project},
            }
        )


class TokenHandler(FakeHandler):
    async def post(self) -> None:
        form = {k: v[0] for k, v in parse_qs(self.request.body.decode()).items()}
        self.fake.note(
            Recorded(self.settings["host_label"], "/token", dict(self.request.headers), form)
        )
        self.fake.token_requested.set()
        if self.fake.token_gate is not None:
            await self.fake.token_gate.wait()
        client = form.get("client_id", "")
        if self.fake.clients.get(client) != form.get("client_secret"):
            self.set_status(401)
            self.finish({"error": "invalid_client", "error_description": "Unauthorized"})
            return
        grant = form.get("grant_type")
        if grant == "authorization_code":
            self._exchange_code(form)
            return
        if grant != "refresh_token":
            self.set_status(400)
            self.finish({"error": "unsupported_grant_type"})
            return
        refresh = form.get("refresh_token", "")
        self.fake.refresh_calls[refresh] += 1
        account = self.fake.accounts.get(refresh)
        if account is None or account.revoked:
            self.set_status(400)
            self.finish(bodies.INVALID_GRANT)
            return
        if client != (account.client_id or FAKE_CLIENT_ID):  # a token refreshes with its client
            self.set_status(401)
            self.finish({"error": "unauthorized_client", "error_description": "Unauthorized"})
            return
        answer = {
            "expires_in": self.fake.token_ttl,
            "token_type": "Bearer",
            "scope": "https://www.googleapis.com/auth/cloud-platform",
        }
        if self.fake.rotate_refresh_tokens:
            rotated = f"{refresh}~{uuid.uuid4().hex[:8]}"
            self.fake.add_account(rotated, account.project_id, account.email)
            account.revoked = True  # the replaced token stops working at once
            answer["refresh_token"] = refresh = rotated
        self.finish({"access_token": self.fake.issue_token(refresh), **answer})
        return

    def _exchange_code(self, form: dict[str, str]) -> None:
        grant = self.fake.codes.pop(form.get("code", ""), None)
        verifier = form.get("code_verifier", "").encode()
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier).digest()).rstrip(b"=")
        if grant is None or challenge.decode() != grant[1] or form.get("redirect_uri") != grant[2]:
            self.set_status(400)
            self.finish({"error": "invalid_grant", "error_description": "Bad Request"})
            return
        account = self.fake.accounts.get(grant[0])
        if account is not None and form.get("client_id") != FAKE_CLIENT_ID:
            account.client_id = form.get("client_id")  # its refresh token belongs to that client
        self.finish(
            {
                "access_token": self.fake.issue_token(grant[0]),
                "refresh_token": grant[0],
                "expires_in": self.fake.token_ttl,
                "token_type": "Bearer",
                "scope": "openid",
            }
        )
        return


class UserInfoHandler(FakeHandler):
    def get(self) -> None:
        account = self.check_auth()
        if account is not None:
            self.finish({"email": account.email, "verified_email": True})


class ConsentHandler(FakeHandler):
    """Google's consent page as a browser sees it: one link per account to sign in as, and one
    to refuse. Following a link sends the browser to the redirect address with a code (or the
    error), as :meth:`FakeUpstream.authorize` makes it."""

    def get(self) -> None:
        here = self.request.full_url()
        links = "".join(
            f'<li><a class="account" href="/o/oauth2/v2/auth/approve?'
            f'{urlencode({"as": refresh, "consent": here})}">{html.escape(account.email)}</a></li>'
            for refresh, account in self.fake.accounts.items()
            if not account.revoked
        )
        deny = urlencode({"deny": "1", "consent": here})
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.finish(
            "<!doctype html><title>Sign in - Google Accounts (fake)</title><h1>Choose an account"
            f"</h1><ul>{links}</ul><p><a id='deny' href='/o/oauth2/v2/auth/approve?{deny}'>"
            "Cancel</a></p>"
        )


class ApproveHandler(FakeHandler):
    def get(self) -> None:
        consent = self.get_argument("consent")
        if self.get_argument("deny", ""):
            self.redirect(self.fake.authorize(consent, "", deny=True))
            return
        self.redirect(self.fake.authorize(consent, self.get_argument("as")))


class FileHandler(RequestHandler):
    """Files for the gateway's remote-image fetching: an image, a page, a redirect, a big file."""

    def get(self, name: str) -> None:
        if name == "cat.png":
            self.set_header("Content-Type", "image/png")
            self.finish(base64.b64decode(fake_model.PNG_B64))
        elif name == "page.html":
            self.set_header("Content-Type", "text/html")
            self.finish(b"<html>not an image</html>")
        elif name == "moved.png":
            self.redirect("/files/cat.png")
        elif name == "huge.png":
            self.set_header("Content-Type", "image/png")
            self.finish(b"\x89PNG" + b"0" * (3 * 1024 * 1024))
        else:
            self.send_error(404)
