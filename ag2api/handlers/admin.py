"""Operators' endpoints: /admin (status page, usage and account APIs) and /metrics.

The admin key (``admin_key`` in the config, distinct from client keys) is taken as a Bearer token
by the APIs, and by the page through a login form that sets an HttpOnly, Secure, SameSite=Strict
cookie. With no admin key configured, /admin does not exist.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from ag2api.auth import presented_key
from ag2api.errors import AuthenticationError, InvalidRequest, NotFound
from ag2api.handlers.base import ApiHandler
from ag2api.observe.usage import GROUPS, query_usage, today
from ag2api.observe.views import accounts_view, daily_series

COOKIE = "ag2api_admin"
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def session_token(admin_key: str) -> str:
    """The cookie value: derived from the key, so changing the key ends every session."""
    return hmac.new(admin_key.encode(), b"ag2api admin session v1", hashlib.sha256).hexdigest()


class AdminHandler(ApiHandler):
    auth_required = False  # the admin key, not a client key

    def prepare(self) -> None:
        super().prepare()
        if not self.cfg.admin_key and self.request.method != "OPTIONS":
            raise NotFound("Admin endpoints are off: set admin_key in the config.")

    def is_admin(self) -> bool:
        key = self.cfg.admin_key
        if not key:
            return False
        given = presented_key(self.request.headers)
        if given is not None and hmac.compare_digest(given.encode(), key.encode()):
            return True
        cookie = self.get_cookie(COOKIE)
        return cookie is not None and hmac.compare_digest(
            cookie.encode(), session_token(key).encode()
        )

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


class AdminAccountsHandler(AdminHandler):
    async def get(self) -> None:
        self.require_admin()
        if self.get_argument("refresh", "") in ("1", "true"):
            await self.services.quota.refresh()
        self.write_json({"accounts": self._accounts()})

    def _accounts(self) -> list[dict[str, Any]]:
        s = self.services
        in_flight = {
            a.project_id: s.dispatcher.slots.used_by(a.project_id) for a in s.pool.accounts
        }
        return accounts_view(s.pool, s.quota.snapshots, in_flight)


class AdminPageHandler(AdminAccountsHandler):
    async def get(self) -> None:
        if not self.is_admin():
            self.redirect("/admin/login")
            return
        if self.get_argument("refresh", "") == "1" or not self.services.quota.snapshots:
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
        )

    def _health(self) -> dict[str, Any]:
        s = self.services
        enabled, disabled = s.pool.counts()
        return {
            "enabled": enabled,
            "disabled": disabled,
            "config_error": s.config.last_error,
            "tokens_error": s.tokens_error,
            "version_notice": s.dispatcher.notices.version_notice,
        }


class AdminLoginHandler(AdminHandler):
    def get(self) -> None:
        self.render("login.html", error=None)

    def post(self) -> None:
        key = self.cfg.admin_key or ""
        given = self.get_body_argument("key", "")
        if not hmac.compare_digest(given.encode(), key.encode()):
            self.set_status(401)
            self.render("login.html", error="That is not the admin key.")
            return
        self.set_cookie(
            COOKIE,
            session_token(key),
            path="/admin",
            httponly=True,
            secure=True,
            samesite="Strict",
            expires_days=7,
        )
        self.redirect("/admin/")


class AdminLogoutHandler(AdminHandler):
    def post(self) -> None:
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
        self.finish(generate_latest(self.services.metrics.registry))


ROUTES = [
    (r"/metrics", MetricsHandler),
    (r"/admin/?", AdminPageHandler),
    (r"/admin/login", AdminLoginHandler),
    (r"/admin/logout", AdminLogoutHandler),
    (r"/admin/usage", AdminUsageHandler),
    (r"/admin/accounts", AdminAccountsHandler),
]
