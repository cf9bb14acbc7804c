"""Adding an account by signing in, from the console (:mod:`ag2api.admin.oauth`).

POST /admin/api/accounts/sign-in ``{"mode": "callback"|"paste", "origin"}`` starts one and gives
the consent address; GET …/sign-in/{id} tells how it goes; POST …/sign-in/{id} ``{"url"}`` takes
the address the browser ended on (paste mode); GET /admin/oauth/callback is where Google sends
the browser back in callback mode.
"""

from __future__ import annotations

import urllib.parse

from ag2api.accounts.login import OAuthFailure
from ag2api.accounts.model import OAuthConfig
from ag2api.admin.api.common import AdminApiHandler
from ag2api.admin.base import AdminHandler
from ag2api.admin.oauth import (
    GATEWAY_CALLBACK,
    PASTE_REDIRECT,
    SignIn,
    finish,
    sign_in_client,
    state_of,
)
from ag2api.errors import GatewayError, InvalidRequest, NotFound
from ag2api.redact import mask
from ag2api.services import Services

MODES = ("callback", "paste")


def client_for(services: Services) -> OAuthConfig:
    try:
        return sign_in_client(services.oauth)
    except OAuthFailure as exc:  # a half-given client in the environment
        raise GatewayError(str(exc), kind="conflict") from None


async def complete(handler: AdminHandler, sign_in: SignIn, redirect: str) -> None:
    """Finish ``sign_in`` off the loop and log it with the operator who started it."""
    services = handler.services
    await handler.blocking(
        finish,
        sign_in,
        redirect,
        client_for(services),
        handler.access.sign_ins.endpoints,
        services.config.current,
        services.cipher,
    )
    if sign_in.status == "done":  # reported once the running gateway serves the account
        await handler.settled(
            lambda: any(
                mask(a.project_id) == sign_in.account and a.enabled for a in services.pool.accounts
            )
        )
    outcome = "ok" if sign_in.status == "done" else f"failed: {sign_in.message}"
    handler.access.audit.record(
        sign_in.started_by,
        handler.client_address(),
        "accounts.sign_in",
        sign_in.account or sign_in.id,
        outcome,
    )


class SignInStartHandler(AdminApiHandler):
    async def post(self) -> None:
        body = self.json_body()
        mode = body.get("mode", "paste")
        if mode not in MODES:
            raise InvalidRequest(f"'mode' takes {', '.join(MODES)}", param="mode")
        redirect = PASTE_REDIRECT
        if mode == "callback":
            origin = body.get("origin") or f"{self.request.protocol}://{self.request.host}"
            parsed = urllib.parse.urlsplit(str(origin))
            if parsed.scheme not in ("http", "https") or not parsed.netloc:
                raise InvalidRequest(
                    "'origin' must be the console's http(s) origin", param="origin"
                )
            redirect = f"{parsed.scheme}://{parsed.netloc}{GATEWAY_CALLBACK}"
        sign_in = self.access.sign_ins.start(
            client_for(self.services), redirect, mode, self.caller_now.name
        )
        self.log_write("accounts.sign_in_start", sign_in.id, mode)
        self.write_json(sign_in.to_json(), status=201)


class SignInHandler(AdminApiHandler):
    def sign_in(self, sign_in_id: str) -> SignIn:
        found = self.access.sign_ins.get(sign_in_id)
        if found is None:
            raise NotFound("No such sign-in (they are forgotten after 15 minutes); start again.")
        return found

    def get(self, sign_in_id: str) -> None:
        self.write_json(self.sign_in(sign_in_id).to_json())

    async def post(self, sign_in_id: str) -> None:
        sign_in = self.sign_in(sign_in_id)
        url = self.json_body().get("url")
        if not isinstance(url, str) or not url.strip():
            raise InvalidRequest("'url' must be the address the browser ended on", param="url")
        if sign_in.status in ("working", "done"):
            raise GatewayError("This sign-in is finished already.", kind="conflict")
        await complete(self, sign_in, url)
        self.write_json(sign_in.to_json())


class CallbackHandler(AdminHandler):
    """Google's redirect in callback mode. No session cookie comes with it (SameSite=Strict):
    the ``state`` is what identifies the sign-in, and only the operator was given it."""

    async def get(self) -> None:
        redirect = self.request.full_url()
        sign_in = self.access.sign_ins.by_state(state_of(redirect))
        self.set_header("Cache-Control", "no-store")
        if sign_in is None or sign_in.mode != "callback":
            self.set_status(400)
            self.render("signed_in.html", ok=False, message="This sign-in is unknown or expired.")
            return
        if sign_in.status == "waiting":
            await complete(self, sign_in, redirect)
        ok = sign_in.status == "done"
        self.set_status(200 if ok else 400)
        self.render("signed_in.html", ok=ok, message=sign_in.message)
