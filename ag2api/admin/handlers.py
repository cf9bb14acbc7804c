"""Operators' endpoints outside /admin/api/: the console's page, sign-in and sign-out, the
read-only JSON of /admin/usage, /admin/accounts, /admin/keys, /admin/content-rejections, and
/metrics. Who may call them: :mod:`ag2api.admin.base`."""

from __future__ import annotations

import math
import re
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST

from ag2api import __version__
from ag2api.admin.base import COOKIE, AdminHandler
from ag2api.admin.views import accounts_view, keys_view, rejections_view
from ag2api.errors import InvalidRequest, NotFound
from ag2api.handlers.base import ApiHandler
from ag2api.observe.usage import GROUPS, query_usage

_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


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


class ConsolePageHandler(AdminHandler):
    """The console: one page whose scripts (``static/``) draw the overview, accounts and keys
    from /admin/api/ and keep them current; the CSRF token of the session is in the page."""

    def get(self) -> None:
        if not self.is_admin():
            self.redirect("/admin/login")
            return
        self.set_header("Cache-Control", "no-store")
        self.set_header(
            "Content-Security-Policy",
            "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
            "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
        )
        self.set_header("X-Frame-Options", "DENY")
        self.set_header("Referrer-Policy", "no-referrer")
        self.render("console.html", csrf=self.csrf_token() or "", version=__version__)


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
