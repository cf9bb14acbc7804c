"""Every operator route: the console's page and scripts, its JSON API, sign-in, /metrics."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tornado.web import StaticFileHandler

from ag2api.admin.api.accounts import (
    AccountActionHandler,
    AccountHandler,
    AccountsApiHandler,
    ExportHandler,
    ImportHandler,
)
from ag2api.admin.api.keys import KeyApiHandler, KeysApiHandler
from ag2api.admin.api.overview import OverviewHandler
from ag2api.admin.api.signin import CallbackHandler, SignInHandler, SignInStartHandler
from ag2api.admin.handlers import (
    AdminAccountsHandler,
    AdminKeysHandler,
    AdminLoginHandler,
    AdminLogoutHandler,
    AdminRejectionsHandler,
    AdminUsageHandler,
    ConsolePageHandler,
    MetricsHandler,
)

STATIC = Path(__file__).parent / "static"


class ConsoleFiles(StaticFileHandler):
    """The console's scripts and styles: public code (no secret in them), revalidated on every
    load so an upgrade is picked up at once."""

    def set_extra_headers(self, path: str) -> None:
        self.set_header("Cache-Control", "no-cache")
        self.set_header("X-Content-Type-Options", "nosniff")


_ID = r"([^/]+)"
ROUTES: list[tuple[Any, ...]] = [
    (r"/metrics", MetricsHandler),
    (r"/admin/?", ConsolePageHandler),
    (r"/admin/static/(.*)", ConsoleFiles, {"path": str(STATIC)}),
    (r"/admin/login", AdminLoginHandler),
    (r"/admin/logout", AdminLogoutHandler),
    (r"/admin/oauth/callback", CallbackHandler),
    (r"/admin/usage", AdminUsageHandler),
    (r"/admin/accounts", AdminAccountsHandler),
    (r"/admin/keys", AdminKeysHandler),
    (r"/admin/content-rejections", AdminRejectionsHandler),
    (r"/admin/api/overview", OverviewHandler),
    (r"/admin/api/keys", KeysApiHandler),
    (rf"/admin/api/keys/{_ID}", KeyApiHandler),
    (r"/admin/api/accounts", AccountsApiHandler),
    (r"/admin/api/accounts/import", ImportHandler),
    (r"/admin/api/accounts/export", ExportHandler),
    (r"/admin/api/accounts/sign-in", SignInStartHandler),
    (rf"/admin/api/accounts/sign-in/{_ID}", SignInHandler),
    (rf"/admin/api/accounts/{_ID}/(enable|disable|recheck)", AccountActionHandler),
    (rf"/admin/api/accounts/{_ID}", AccountHandler),
]
