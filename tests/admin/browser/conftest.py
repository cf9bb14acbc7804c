"""The console in a real browser: Playwright (Python) driving Debian's Chromium.

One browser per test module: the module shares one event loop (pytest-tornasync otherwise makes
one per test, and Playwright's connection lives on the loop that started it); each test gets a
fresh browser context (no cookie or storage from another test). Chromium is Debian's package,
installed by scripts/test.sh — never `playwright install`; without it the tests are skipped,
saying why.

What the tests do on a page (sign in, open a page, refresh, screenshot) is in
``tests/support/console.py``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import tornado.ioloop

from tests.support.clients import ADMIN
from tests.support.console import sign_in

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def io_loop() -> Iterator[tornado.ioloop.IOLoop]:
    """One event loop for the whole module, so one browser serves all its tests."""
    loop = tornado.ioloop.IOLoop()
    loop.make_current()
    yield loop
    loop.clear_current()
    loop.close(all_fds=True)


@pytest.fixture(scope="module")
def browser(io_loop: tornado.ioloop.IOLoop) -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.skip("needs Debian's chromium at /usr/bin/chromium (scripts/test.sh installs it)")
    from playwright.async_api import async_playwright

    async def start() -> tuple[Any, Any]:
        driver = await async_playwright().start()
        launched = await driver.chromium.launch(
            executable_path=str(CHROMIUM), args=FLAGS, headless=True
        )
        return driver, launched

    driver, launched = io_loop.run_sync(start, timeout=60)
    yield launched

    async def stop() -> None:
        await launched.close()
        await driver.stop()

    io_loop.run_sync(stop, timeout=30)


@pytest.fixture
def config_overrides() -> dict[str, Any]:
    return {"admin_key": ADMIN}


@pytest.fixture
def page(io_loop: tornado.ioloop.IOLoop, browser: Any, base_url: str) -> Iterator[Any]:
    """A fresh context's page, signed in to the console."""

    async def open_page() -> Any:
        context = await browser.new_context(viewport={"width": 1280, "height": 860})
        context.set_default_timeout(10_000)
        tab = await context.new_page()
        await sign_in(tab, base_url)
        return tab

    tab = io_loop.run_sync(open_page, timeout=30)
    yield tab
    io_loop.run_sync(tab.context.close, timeout=30)
