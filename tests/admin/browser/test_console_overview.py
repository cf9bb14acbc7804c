"""The Overview page in Chromium: use per day as a chart by key, model and account, the config's
state as it changes, the latest requests, the refused system prompts (never the prompt); reached
and used with the keyboard alone."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import openai
import pytest
import yaml
from playwright.async_api import expect

from ag2api.server.watch import FileWatcher
from ag2api.testing.fake_upstream import FakeUpstream
from tests.support.clients import ADMIN
from tests.support.console import refreshed, screenshot, show
from tests.support.files import edit_config
from tests.support.helpers import chat_text
from tests.support.http import fetch


@pytest.mark.timeout(seconds=60)
async def test_overview_charts_requests_and_config_state(
    page: Any, client: Any, config_path: Path, watcher: FileWatcher, base_url: str
) -> None:
    tab = page
    for stream in (True, False, True):
        await chat_text(client, stream=stream)
    await show(tab, "overview")
    await refreshed(tab)
    bars = tab.locator("#usage-chart svg rect")
    await expect(bars).to_have_count(1)  # today, one key: "tests"
    assert await bars.first.get_attribute("data-name") == "tests"
    await expect(tab.locator("#usage-chart .legend")).to_have_text("tests")
    rows = tab.locator("#recent-requests tbody tr")
    await expect(rows).to_have_count(3)
    await expect(rows.first).to_contain_text("gemini-2.5-flash")
    await expect(tab.locator("#config-ok")).to_be_visible()
    await tab.select_option("#usage-by", "account")
    await expect(tab.locator("#usage-chart .legend")).to_contain_text("proj…")
    names = await tab.locator("#usage-chart svg rect").evaluate_all(
        "rects => rects.map(r => r.dataset.name)"
    )
    assert set(names) <= {"proj…0001", "proj…0002", "proj…0003"} and names
    await tab.select_option("#usage-by", "key")
    await screenshot(tab, "console-overview")

    good = config_path.read_text()
    config_path.write_text(good + "rotation:\n  count: many\n")  # a bad hand edit
    await watcher.wait_for(lambda: watcher._live.last_error is not None)
    await refreshed(tab)
    await expect(tab.locator("#config-error")).to_contain_text("gateway.yaml:")
    await expect(tab.locator("#config-error")).to_contain_text("rotation.count")
    config_path.write_text(good)
    await watcher.wait_for(lambda: watcher._live.last_error is None)
    await refreshed(tab)
    await expect(tab.locator("#config-ok")).to_be_visible()

    # A start-only setting edited: in the file, in force after a restart — said on the page.
    edit_config(config_path, yaml.safe_load(good), {"server": {"max_connections": 77}})
    await watcher.wait_for(lambda: watcher._live.restart_required == ["server.max_connections"])
    overview = await fetch(base_url + "/admin/api/overview", key=ADMIN)
    assert json.loads(overview.body)["config"]["restart_required"] == ["server.max_connections"]
    await refreshed(tab)
    await expect(tab.locator("#restart-required")).to_have_text(
        "Edited settings that take effect after a restart: server.max_connections"
    )
    await expect(tab.locator("#config-ok")).to_have_count(0)


@pytest.mark.timeout(seconds=60)
async def test_the_page_refreshes_by_itself_while_it_is_shown(page: Any, client: Any) -> None:
    """Every 5 s without a click; not while the tab is hidden; at once when it is shown again."""
    tab = page
    start = time.time() * 1000
    await tab.clock.install(time=start)
    await tab.clock.pause_at(start)  # the page's timers move only when told
    await tab.reload()
    await tab.wait_for_selector('body[data-loaded="overview"]')
    rows = tab.locator("#recent-requests tbody tr")
    await expect(rows).to_have_count(0)
    loads: list[str] = []
    tab.on("request", lambda r: loads.append(r.url) if "/api/overview" in r.url else None)
    await chat_text(client)
    await tab.clock.run_for(5000)
    await expect(rows).to_have_count(1)

    await tab.evaluate(
        "Object.defineProperty(document, 'hidden', {configurable: true, get: () => true})"
    )
    await chat_text(client)
    await tab.clock.run_for(5000)  # the poll already set fires; being hidden, it sets no other
    await expect(rows).to_have_count(2)
    await chat_text(client)
    await tab.clock.run_for(60_000)
    assert len(loads) == 2
    await tab.evaluate(
        "Object.defineProperty(document, 'hidden', {configurable: true, get: () => false});"
        "document.dispatchEvent(new Event('visibilitychange'))"
    )
    await expect(rows).to_have_count(3)
    assert len(loads) == 3


@pytest.mark.timeout(seconds=60)
async def test_refused_system_prompts_are_listed_without_the_prompt(
    page: Any, client: openai.AsyncOpenAI, fake: FakeUpstream
) -> None:
    tab = page
    await show(tab, "overview")
    await expect(tab.locator("#content-rejections caption")).to_contain_text("No system prompt")
    prompt = "You are Acme Agent, made by Acme Labs."
    fake.content_filter = (prompt,)
    with pytest.raises(openai.BadRequestError):
        await client.chat.completions.create(
            model="gemini-2.5-flash",
            messages=[{"role": "system", "content": prompt}, {"role": "user", "content": "hi"}],
        )
    await refreshed(tab)
    rows = tab.locator("#content-rejections tbody tr")
    await expect(rows).to_have_count(1)
    cells = await rows.first.locator("td").all_inner_texts()
    assert cells[0].endswith(" UTC") and cells[1:] == ["gemini-2.5-flash", "tests", "chat"]
    await expect(tab.locator("#rejections-total")).to_have_text("· 1 since the start")
    assert "Acme" not in await tab.content()


@pytest.mark.timeout(seconds=60)
async def test_the_keyboard_alone_reaches_every_page_and_action(page: Any) -> None:
    tab = page
    await tab.reload()
    await tab.wait_for_selector('body[data-loaded="overview"]')
    await tab.keyboard.press("Tab")  # the skip link first
    assert await tab.evaluate("document.activeElement.className") == "skip"
    for _ in range(3):
        await tab.keyboard.press("Tab")
    assert await tab.evaluate("document.activeElement.dataset.page") == "keys"
    await tab.keyboard.press("Enter")
    await tab.wait_for_selector('body[data-loaded="keys"]')
    assert await tab.locator('header nav a[aria-current="page"]').inner_text() == "Keys"
    await tab.focus("#new-key")
    await tab.keyboard.press("Enter")
    await expect(tab.locator("#key-dialog")).to_be_visible()
    assert await tab.evaluate("document.activeElement.id") == "key-label"
    await tab.keyboard.press("Escape")
    await expect(tab.locator("#key-dialog")).to_be_hidden()


@pytest.mark.timeout(seconds=60)
async def test_on_a_phone(page: Any) -> None:
    tab = page
    await tab.set_viewport_size({"width": 390, "height": 844})
    for name in ("overview", "keys"):
        await show(tab, name)
        assert await tab.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 0
    await show(tab, "overview")
    await screenshot(tab, "console-overview-phone")
