"""What the browser tests do on a console page (a Playwright ``Page`` signed in by the ``page``
fixture of tests/admin/browser/conftest.py).

``AG2API_SCREENSHOTS=1`` makes :func:`screenshot` save the console's pages as PNG under docs/img/.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from tests.support.clients import ADMIN

IMAGES = Path(__file__).resolve().parents[2] / "docs" / "img"


async def sign_in(tab: Any, base_url: str) -> None:
    await tab.goto(base_url + "/admin/")
    assert tab.url.endswith("/admin/login")
    await tab.fill("#key", ADMIN)
    await tab.click("#signin")
    await tab.wait_for_url(base_url + "/admin/")


async def show(tab: Any, page_name: str) -> None:
    """Open one of the console's pages and wait for its data."""
    await tab.click(f'header nav a[data-page="{page_name}"]')
    await tab.wait_for_selector(f'body[data-loaded="{page_name}"]')


async def screenshot(tab: Any, name: str) -> None:
    if os.environ.get("AG2API_SCREENSHOTS"):
        IMAGES.mkdir(exist_ok=True)
        await tab.screenshot(path=str(IMAGES / f"{name}.png"))


async def refreshed(tab: Any) -> None:
    """The page's data as it is now (the console also refreshes by itself every 5 s)."""
    await tab.click("#refresh")
