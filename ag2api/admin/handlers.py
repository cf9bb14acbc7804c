"""Operators' endpoints: /admin (status page, usage and account APIs) and /metrics.

The admin key (``admin_key`` in the config, distinct from client keys) is taken as a Bearer token
by the APIs, and by the page through a login form that opens a server-side session (a random
token in an HttpOnly, Secure, SameSite=Strict cookie; see ``admin.sessions``). Wrong keys are
throttled per client address (``admin.throttle``). With no admin key configured, /admin does not
exist.
"""

from __future__ import annotations

import hmac
import logging
import math
import re
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST

from ag2api.admin.access import AdminAccess
from ag2api.admin.client_address import client_address
from ag2api.admin.views import accounts_view, daily_series, keys_view, rejections_view
from ag2api.errors import AuthenticationError, GatewayError, InvalidRequest, NotFound
from ag2api.handlers.base import ApiHandler
from ag2api.keys.auth import presented_key
from ag2api.observe.usage import GROUPS, query_usage, today

log = logging.getLogger("ag2api.admin")

COOKIE = "ag2api_admin"
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class AdminHandler(ApiHandler):
    auth_required = False  # the admin key, not a client key

    @property
    def access(self) -> AdminAccess:
        return self.settings["admin"]

    def prepare(self) -> None:
        super().prepare()
        if not self.cfg.admin_key and self.request.method != "OPTIONS":
            raise NotFound("Admin endpoints are off: set admin_key in the config.")

    def is_admin(self) -> bool:
        """A signed-in session, or the admin key as a Bearer token (a guess: throttled)."""
        key = self.cfg.admin_key
        if not key:
            return False
        cookie = self.get_cookie(COOKIE)
        if cookie and self.access.sessions.valid(cookie, key, self.cfg.admin.session_lifetime):
            return True
        given = presented_key(self.request.headers)
        if given is None:
            return False
        wait = self.guess_wait()
        if wait is not None:
            raise GatewayError(
                "Too many wrong admin keys from this address; retry later.",
                kind="rate_limit_exceeded",
                retry_after=wait,
            )
        return self.check_key(given, key)

    def guess_wait(self) -> float | None:
        """Seconds before this client's next key is checked, or None: it may try now."""
        admin = self.cfg.admin
        return self.access.throttle.wait(
            self.client_address(), admin.login_max_failures, admin.login_window
        )

    def client_address(self) -> str:
        """Who is guessing: the connection's address, or behind ``server.trusted_proxies`` the
        client they forwarded."""
        return client_address(
            self.request.remote_ip,
            self.request.headers.get_list("X-Forwarded-For"),
            self.cfg.server.trusted_proxies,
        )

    def check_key(self, given: str, key: str) -> bool:
        """The constant-time comparison; a failure counts against the client's address."""
        throttle, address = self.access.throttle, self.client_address()
        if hmac.compare_digest(given.encode(), key.encode()):
            throttle.succeeded(address)
            return True
        throttle.failed(address, self.cfg.admin.login_max_failures)
        if (wait := self.guess_wait()) is not None:  # that failure reached the limit
            log.warning("too many wrong admin keys from %s: refused for %.0fs", address, wait)
        return False

    def require_admin(self) -> None:
        if not self.is_admin():
            raise AuthenticationError("The admin key is required ('Authorization: Bearer <key>').")


class AdminUsageHandler(AdminHandler):
    async def get(self) -> None:
        self.require_admin()
        since, until = self.get_argument("since", None), self.get_argument("until", None)
        for name, value in (("since", since), ("until", until)):
            if value is not None and not _DAY.match(value):
                raise InvalidRequest(f"'{name}' must be a day like 2026-11-23", param=name)
        groups = tuple(g for g in self.get_argument("group_by", "day,key,model").split(",") if g)
        if any(g not in GROUPS for g in groups):
            raise InvalidRequest(f"'group_by' takes {', '.join(GROUPS)}", param="group_by")
        usage = self.services.usage
        await usage.flush()
        rows = await usage.run(
            lambda db: query_usage(db, since=since, until=until, group_by=groups)
        )
        self.write_json({"since": since, "until": until, "group_by": list(groups), "data": rows})


class AdminKeysHandler(AdminHandler):
    """Each client key's policy and its live use against it (labels only, never keys)."""

    async def get(self) -> None:
        self.require_admin()
        self.write_json({"keys": await keys_view(self.cfg, self.services.state)})


class AdminRejectionsHandler(AdminHandler):
    """The latest requests whose system prompt the upstream refused (no prompt shown)."""

    def get(self) -> None:
        self.require_admin()
        self.write_json({"content_rejections": rejections_view(self.services.content_rejections)})


class AdminAccountsHandler(AdminHandler):
    async def get(self) -> None:
        self.require_admin()
        if self.get_argument("refresh", "") in ("1", "true"):
            await self.services.quota.refresh()
        self.write_json({"accounts": self._accounts()})

    def _accounts(self) -> list[dict[str, Any]]:
        s = self.services
        return accounts_view(s.state.snapshot(), s.quota.book, s.uses_credits)


class AdminPageHandler(AdminAccountsHandler):
    async def get(self) -> None:
        if not self.is_admin():
            self.redirect("/admin/login")
            return
        if self.get_argument("refresh", "") == "1" or not self.services.quota.book.accounts:
            await self.services.quota.refresh()
        usage = self.services.usage
        await usage.flush()
        rows = await usage.run(lambda db: query_usage(db, group_by=("day",)))
        days = daily_series(rows, 14, today())
        self.set_header("Cache-Control", "no-store")
        self.render(
            "admin.html",
            accounts=self._accounts(),
            days=days,
            peak=max([d["tokens"] for d in days] + [1]),
            health=self._health(),
            keys=await keys_view(self.cfg, self.services.state),
            rejections=rejections_view(self.services.content_rejections),
        )

    def _health(self) -> dict[str, Any]:
        s = self.services
        snap = s.state.snapshot()
        return {
            "enabled": snap.enabled,
            "disabled": snap.disabled,
            "config_error": s.config.last_error,
            "tokens_error": s.tokens_error,
            "version_notice": s.dispatcher.notices.version_notice,
        }


class AdminLoginHandler(AdminHandler):
    def get(self) -> None:
        self.render("login.html", error=None)

    def post(self) -> None:
        key = self.cfg.admin_key or ""
        wait = self.guess_wait()
        if wait is not None:  # refused before the key is even looked at
            seconds = max(1, math.ceil(wait))
            self.set_status(429)
            self.set_header("Retry-After", str(seconds))
            self.render(
                "login.html",
                error=f"Too many wrong keys from your address; try again in {seconds} s.",
            )
            return
        if not self.check_key(self.get_body_argument("key", ""), key):
            self.set_status(401)
            self.render("login.html", error="That is not the admin key.")
            return
        lifetime = self.cfg.admin.session_lifetime
        self.set_cookie(
            COOKIE,
            self.access.sessions.open(key),
            path="/admin",
            httponly=True,
            secure=True,
            samesite="Strict",
            max_age=max(1, int(lifetime)),
        )
        self.redirect("/admin/")


class AdminLogoutHandler(AdminHandler):
    def post(self) -> None:
        cookie = self.get_cookie(COOKIE)
        if cookie:
            self.access.sessions.close(cookie)  # the cookie is worthless from now on
        self.clear_cookie(COOKIE, path="/admin")
        self.redirect("/admin/login")


class MetricsHandler(AdminHandler):
    def prepare(self) -> None:
        ApiHandler.prepare(self)  # open unless the config puts it behind the admin key
        if self.cfg.observability.metrics_require_admin:
            if not self.cfg.admin_key:
                raise NotFound("/metrics needs the admin key, and none is configured.")
            self.require_admin()

    def get(self) -> None:
        self.set_header("Content-Type", CONTENT_TYPE_LATEST)
        self.finish(self.services.metrics.exposition())


ROUTES = [
    (r"/metrics", MetricsHandler),
    (r"/admin/?", AdminPageHandler),
    (r"/admin/login", AdminLoginHandler),
    (r"/admin/logout", AdminLogoutHandler),
    (r"/admin/usage", AdminUsageHandler),
    (r"/admin/accounts", AdminAccountsHandler),
    (r"/admin/keys", AdminKeysHandler),
    (r"/admin/content-rejections", AdminRejectionsHandler),
]
