"""The admin tests' gateway: its console signs accounts in against the fake's Google pages."""

from __future__ import annotations

from typing import Any

import pytest
from tornado.web import Application

from ag2api.admin.oauth import SignInEndpoints
from ag2api.app import make_app
from ag2api.services import Services
from ag2api.testing.fake_upstream import FakeUpstream


@pytest.fixture
def app(services: Services, fake: FakeUpstream) -> Application:
    application = make_app(services)
    application.settings["admin"].sign_ins.endpoints = SignInEndpoints(
        auth_url=fake.url + "/o/oauth2/v2/auth",
        userinfo_url=fake.url + "/oauth2/v2/userinfo",
        onboard_polls=3,
        onboard_interval=0.0,
    )
    return application


@pytest.fixture
def admin(app: Application) -> Any:
    """The app's AdminAccess (sessions, the write log, sign-ins)."""
    return app.settings["admin"]
