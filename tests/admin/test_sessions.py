"""Admin sign-in: server-side random sessions that end on logout, on a new admin key
and after their lifetime; wrong admin keys throttled per client address."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from tornado.httpclient import AsyncHTTPClient, HTTPResponse
from tornado.web import Application

from ag2api.admin.base import COOKIE
from ag2api.config.load import ConfigError, parse_config
from ag2api.server.watch import FileWatcher
from ag2api.services import Services
from tests.support.clients import ADMIN, WITH_ADMIN
from tests.support.clock import FakeClock
from tests.support.http import fetch

OTHER_ADDRESS = "127.0.0.2"  # still loopback: the gateway sees another client address


async def call(
    url: str,
    *,
    method: str = "GET",
    body: str | None = None,
    cookie: str | None = None,
    bearer: str | None = None,
    source: str | None = None,
    http: AsyncHTTPClient | None = None,
) -> HTTPResponse:
    headers = {"Cookie": f"{COOKIE}={cookie}"} if cookie is not None else {}
    return await fetch(
        url,
        method,
        body,
        headers,
        key=bearer,
        http=http,
        follow_redirects=False,
        network_interface=source,
    )


async def sign_in(base_url: str, key: str = ADMIN, source: str | None = None) -> HTTPResponse:
    return await call(base_url + "/admin/login", method="POST", body=f"key={key}", source=source)


def session_of(response: HTTPResponse) -> str:
    assert response.code == 302 and response.headers["Location"] == "/admin/", response.code
    morsel = response.headers["Set-Cookie"].split(";")[0]
    name, _, value = morsel.partition("=")
    assert name == COOKIE and value
    return value


async def signed_in(base_url: str, cookie: str, source: str | None = None) -> bool:
    """Whether the cookie opens the admin API (200) rather than being refused (401)."""
    response = await call(base_url + "/admin/accounts", cookie=cookie, source=source)
    assert response.code in (200, 401), response.code
    return response.code == 200


@pytest.mark.parametrize("config_overrides", [WITH_ADMIN])
async def test_each_sign_in_is_a_random_session_that_logout_ends(
    base_url: str, config_overrides: dict[str, Any]
) -> None:
    first = session_of(await sign_in(base_url))
    second = session_of(await sign_in(base_url))
    assert first != second  # random, not derived from the key
    assert ADMIN not in first and len(first) >= 32
    assert await signed_in(base_url, first) and await signed_in(base_url, second)
    page = await call(base_url + "/admin/", cookie=first)
    assert page.code == 200 and b"Sign out" in page.body

    out = await call(base_url + "/admin/logout", method="POST", body="", cookie=first)
    assert out.code == 302 and out.headers["Location"] == "/admin/login"
    assert not await signed_in(base_url, first)  # the copied cookie is worthless now
    page = await call(base_url + "/admin/", cookie=first)
    assert page.code == 302 and page.headers["Location"] == "/admin/login"
    assert await signed_in(base_url, second)  # only that session ended


@pytest.mark.parametrize("config_overrides", [WITH_ADMIN])
async def test_a_new_admin_key_ends_every_session(
    base_url: str,
    services: Services,
    watcher: FileWatcher,
    config_path: Path,
    config_doc: dict[str, Any],
    config_overrides: dict[str, Any],
) -> None:
    cookie = session_of(await sign_in(base_url))
    assert await signed_in(base_url, cookie)

    async def set_key(key: str) -> None:
        config_path.write_text(yaml.safe_dump({**config_doc, "admin_key": key}))
        await watcher.wait_for(lambda: services.config.current.admin_key == key)

    await set_key("a-brand-new-admin-key")
    assert not await signed_in(base_url, cookie)
    ok = await call(base_url + "/admin/accounts", bearer="a-brand-new-admin-key")
    assert ok.code == 200
    await set_key(ADMIN)  # the old key again does not bring the old session back
    assert not await signed_in(base_url, cookie)
    assert await signed_in(base_url, session_of(await sign_in(base_url)))


@pytest.mark.parametrize("config_overrides", [WITH_ADMIN])
async def test_a_key_changed_and_back_unseen_still_ends_sessions(
    base_url: str,
    services: Services,
    watcher: FileWatcher,
    config_path: Path,
    config_doc: dict[str, Any],
    config_overrides: dict[str, Any],
) -> None:
    cookie = session_of(await sign_in(base_url))
    for key in ("an-interim-admin-key", ADMIN):  # no admin request sees the interim key
        config_path.write_text(yaml.safe_dump({**config_doc, "admin_key": key}))
        await watcher.wait_for(lambda k=key: services.config.current.admin_key == k)
    assert not await signed_in(base_url, cookie)


@pytest.mark.parametrize("config_overrides", [{**WITH_ADMIN, "admin": {"session_lifetime": 60}}])
async def test_sessions_end_after_their_lifetime(
    base_url: str, app: Application, config_overrides: dict[str, Any]
) -> None:
    clock = FakeClock()
    app.settings["admin"].sessions.clock = clock.monotonic
    response = await sign_in(base_url)
    assert "Max-Age=60" in response.headers["Set-Cookie"]
    cookie = session_of(response)
    clock.advance(59)
    assert await signed_in(base_url, cookie)
    clock.advance(1)
    assert not await signed_in(base_url, cookie)
    clock.advance(-30)  # once gone it stays gone
    assert not await signed_in(base_url, cookie)


@pytest.mark.parametrize("config_overrides", [WITH_ADMIN])
async def test_wrong_keys_are_throttled_per_address(
    base_url: str, app: Application, config_overrides: dict[str, Any]
) -> None:
    before = session_of(await sign_in(base_url))  # opened before the attack
    http = AsyncHTTPClient(force_instance=True, max_clients=30)
    try:
        answers = await asyncio.gather(
            *(
                call(
                    base_url + "/admin/login",
                    method="POST",
                    body=f"key=wrong-guess-{i:04d}",
                    http=http,
                )
                for i in range(300)
            )
        )
    finally:
        http.close()
    codes = [a.code for a in answers]
    assert codes.count(401) == 10 and codes.count(429) == 290  # admin.login_max_failures
    for answer in answers:
        if answer.code == 429:
            assert 1 <= int(answer.headers["Retry-After"]) <= 300
            assert b"Too many wrong keys" in answer.body
    # While throttled the key is not even checked: the right one is refused too, form or Bearer.
    assert (await sign_in(base_url)).code == 429
    api = await call(base_url + "/admin/accounts", bearer=ADMIN)
    assert api.code == 429 and "Retry-After" in api.headers
    assert json.loads(api.body)["error"]["code"] == "rate_limit_exceeded"
    # A session is no guess: it keeps working; another address signs in as usual.
    assert await signed_in(base_url, before)
    other = session_of(await sign_in(base_url, source=OTHER_ADDRESS))
    assert await signed_in(base_url, other, source=OTHER_ADDRESS)
    assert (await sign_in(base_url, "still-wrong", source=OTHER_ADDRESS)).code == 401
    # Once the window (admin.login_window) has passed, the address may try again.
    app.settings["admin"].throttle.clock = lambda: time.monotonic() + 300
    assert await signed_in(base_url, session_of(await sign_in(base_url)))


@pytest.mark.parametrize(
    "config_overrides", [{**WITH_ADMIN, "admin": {"login_max_failures": 3, "login_window": 60}}]
)
async def test_wrong_bearer_keys_count_as_guesses(
    base_url: str, config_overrides: dict[str, Any]
) -> None:
    codes = [(await call(base_url + "/admin/usage", bearer=f"guess-{i}")).code for i in range(5)]
    assert codes == [401, 401, 401, 429, 429]
    assert (await call(base_url + "/admin/usage")).code == 401  # no key: not a guess, no 429
    answer = await sign_in(base_url)
    assert answer.code == 429 and 1 <= int(answer.headers["Retry-After"]) <= 60


@pytest.mark.parametrize(
    ("yaml_text", "label"),
    [
        ("admin: {session_lifetime: 0}", "admin.session_lifetime"),
        ("admin: {login_max_failures: 0}", "admin.login_max_failures"),
        ("admin: {login_window: -1}", "admin.login_window"),
        ("admin: {cookie: x}", "admin.cookie"),
    ],
)
def test_admin_settings_are_validated(yaml_text: str, label: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(yaml_text, path=Path("gateway.yaml"))
    assert label in str(info.value)


def test_admin_settings_defaults_and_values() -> None:
    cfg = parse_config("", path=Path("gateway.yaml"))
    assert (cfg.admin.session_lifetime, cfg.admin.login_max_failures) == (43200, 10)
    assert cfg.admin.login_window == 300
    cfg = parse_config(
        "admin: {session_lifetime: 900, login_max_failures: 5, login_window: 30}",
        path=Path("gateway.yaml"),
    )
    assert (cfg.admin.session_lifetime, cfg.admin.login_max_failures) == (900, 5)
    assert cfg.admin.login_window == 30
