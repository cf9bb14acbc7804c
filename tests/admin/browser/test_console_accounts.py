"""The Accounts page in Chromium: add an account by signing in (through the gateway's own
callback, and by pasting the address), disable, enable, recheck, remove, import and export —
against the fake Google pages and upstream, with tokens.json as the source of truth."""

from __future__ import annotations

import asyncio
import json
import re
import time
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import expect

from ag2api.server.watch import FileWatcher
from ag2api.services import Services
from ag2api.testing.fake_pool import PoolModel
from ag2api.testing.fake_upstream import FakeUpstream
from tests.support.clients import ADMIN
from tests.support.console import refreshed, screenshot, show
from tests.support.files import file_projects
from tests.support.helpers import chat_text
from tests.support.upstream import projects


def card(tab: Any, shown_id: str) -> Any:
    return tab.locator(f'article.account[data-id="{shown_id}"]')


@pytest.mark.timeout(seconds=60)
async def test_sign_in_through_the_gateways_own_callback(
    page: Any, fake: FakeUpstream, tokens_path: Path, watcher: FileWatcher
) -> None:
    tab = page
    fake.add_account("rt-four", "proj-delta-0004", "delta@example.com")
    await show(tab, "accounts")
    await tab.click("#add-account")
    assert await tab.is_checked('input[name="mode"][value="callback"]')  # 127.0.0.1: reachable
    await tab.click("#sign-in-start")
    async with tab.expect_popup() as opened:
        await tab.click("#sign-in-link")
    google = await opened.value
    await google.get_by_role("link", name="delta@example.com").click()
    await expect(google.locator("#result")).to_contain_text("Added account proj…0004")
    assert "/admin/oauth/callback?" in google.url
    await expect(tab.locator("#sign-in-status")).to_contain_text(
        "Added account proj…0004 (delta@example.com)"
    )
    added = file_projects(tokens_path)["proj-delta-0004"]
    assert added["email"] == "delta@example.com" and added["enabled"] is True
    await tab.keyboard.press("Escape")
    await expect(card(tab, "proj…0004")).to_contain_text("delta@example.com")


@pytest.mark.timeout(seconds=60)
async def test_sign_in_by_pasting_the_address(
    page: Any, fake: FakeUpstream, tokens_path: Path, watcher: FileWatcher
) -> None:
    """Google sends the browser to localhost:51121, which does not answer here (the gateway is
    elsewhere): the person copies that address into the console."""
    tab = page
    fake.add_account("rt-five", "proj-epsilon-0005", "epsilon@example.com")
    ended_on: list[str] = []
    arrived = asyncio.Event()

    async def unreachable(route: Any) -> None:
        ended_on.append(route.request.url)
        arrived.set()
        await route.abort("connectionrefused")

    await tab.context.route("http://localhost:51121/**", unreachable)
    await show(tab, "accounts")
    await tab.click("#add-account")
    await tab.check('input[name="mode"][value="paste"]')
    await tab.click("#sign-in-start")
    async with tab.expect_popup() as opened:
        await tab.click("#sign-in-link")
    google = await opened.value
    await google.get_by_role("link", name="epsilon@example.com").click()
    await asyncio.wait_for(arrived.wait(), 10)
    assert ended_on[0].startswith("http://localhost:51121/oauth-callback?state=")
    await tab.fill("#sign-in-url", ended_on[0])
    await tab.click("#sign-in-finish")
    await expect(tab.locator("#sign-in-status")).to_contain_text("Added account proj…0005")
    assert file_projects(tokens_path)["proj-epsilon-0005"]["email"] == "epsilon@example.com"


@pytest.mark.timeout(seconds=90)
async def test_disable_enable_recheck_remove(
    page: Any,
    client: Any,
    fake: FakeUpstream,
    services: Services,
    tokens_path: Path,
    watcher: FileWatcher,
    request_lines: list[dict[str, Any]],
) -> None:
    tab = page
    await show(tab, "accounts")
    await tab.click("#check-quota")
    beta = card(tab, "proj…0002")
    await expect(beta.locator(".quota").first).to_be_visible()
    for bar in await beta.locator(".quota").all():  # each bar drawn at its share of the track
        remaining = float(await bar.get_attribute("data-remaining") or "0")
        track = await bar.locator(".track").bounding_box()
        fill = await bar.locator(".fill").bounding_box()
        assert track is not None and fill is not None
        assert abs(fill["width"] - remaining * track["width"]) < 2

    await beta.get_by_role("button", name="Disable proj…0002").click()
    await expect(beta.locator(".badge")).to_have_text("disabled")
    assert file_projects(tokens_path)["proj-beta-0002"]["enabled"] is False
    for _ in range(4):
        await chat_text(client)
    assert "proj…0002" not in {line["project"] for line in request_lines if line["project"]}
    await beta.get_by_role("button", name="Enable proj…0002").click()
    await expect(beta.locator(".badge")).to_have_text("serving")
    assert file_projects(tokens_path)["proj-beta-0002"]["enabled"] is True

    fake.accounts["rt-three"].needs_verification = True  # Google asks to verify gamma
    gamma = services.pool.get("proj-gamma-0003")
    assert gamma is not None
    while gamma.enabled:
        await chat_text(client)
    await refreshed(tab)
    shown = card(tab, "proj…0003")
    await expect(shown.locator(".badge")).to_have_text("needs verification")
    link = shown.get_by_role("link", name="verify it")
    assert (await link.get_attribute("href") or "").startswith("https://accounts.google.com/")
    await shown.get_by_role("button", name="Recheck proj…0003").click()
    await expect(tab.locator("#notice")).to_contain_text("still out")
    fake.accounts["rt-three"].needs_verification = False  # the person verified it
    await shown.get_by_role("button", name="Recheck proj…0003").click()
    await expect(tab.locator("#notice")).to_contain_text("back in service")
    await expect(shown.locator(".badge")).to_have_text("serving")

    await shown.get_by_role("button", name="Remove proj…0003").click()
    await tab.click("#confirm-yes")
    await expect(shown).to_have_count(0)
    assert "proj-gamma-0003" not in file_projects(tokens_path)
    await services.writer.flush()
    assert "proj-gamma-0003" not in file_projects(tokens_path)  # and not written back


@pytest.mark.parametrize(
    "config_overrides",
    [{"admin_key": ADMIN, "routing": {"strategy": "fill"}, "accounts": {"use_credits": True}}],
)
@pytest.mark.timeout(seconds=60)
async def test_cooling_skipped_models_buckets_and_credits(
    page: Any,
    client: Any,
    fake: FakeUpstream,
    services: Services,
    config_overrides: dict[str, Any],
) -> None:
    """alpha meets a used-up model on a request (cooling, skipped until the reset the 429
    names); beta's used-up model is found by the quota check; credits below the minimum, in use
    (beta: its free quota is out) and ready; the 5-hour and weekly buckets."""
    tab = page
    pool = fake.pool = PoolModel()
    pool.use_up("proj-alpha-0001", "claude-sonnet-4-5")
    pool.use_up("proj-beta-0002", "gemini-3-pro-high")
    pool.credits.update({"proj-alpha-0001": 5, "proj-beta-0002": 1000, "proj-gamma-0003": 1000})
    assert (await chat_text(client, model="claude-sonnet-4-5")).endswith("You said: hi")
    assert projects(fake) == ["proj-alpha-0001", "proj-beta-0002"]  # alpha's 429, then beta
    await show(tab, "accounts")
    await tab.click("#check-quota")
    await expect(tab.locator("#notice")).to_contain_text("Quota checked")
    alpha, beta, gamma = (card(tab, f"proj…000{i}") for i in (1, 2, 3))

    await expect(alpha.locator(".badge")).to_have_text("cooling")
    cooling = alpha.locator(".cooldown").filter(has_text="claude-sonnet-4-5 cooling until ")
    await expect(cooling).to_have_count(1)
    assert re.search(
        r"until 20\d\d-\d\d-\d\d \d\d:\d\d UTC \(4h5\dm\) · QUOTA_EXHAUSTED",
        await cooling.inner_text(),
    )
    for account, model in ((alpha, "claude-sonnet-4-5"), (beta, "gemini-3-pro-high")):
        bar = account.locator(f'.quota[data-model="{model}"]')
        await expect(bar).to_have_class("quota skipped")
        assert re.fullmatch(
            rf"{model}\s+0% · resets in 4h5\dm · skipped until 20\S+ \d\d:\d\d UTC",
            " ".join((await bar.locator(".label").inner_text()).split("\n")),
        ), await bar.inner_text()
    await expect(gamma.locator(".badge")).to_have_text("serving")

    buckets = await alpha.locator(".bucket").all_inner_texts()
    assert len(buckets) == 4, buckets
    assert any(re.fullmatch(r"3p 5h: 0% left, resets in 4h5\dm", b) for b in buckets), buckets
    assert any(
        re.fullmatch(r"gemini weekly: 100% left, resets in 16[78]h\d\dm", b) for b in buckets
    )
    await expect(alpha.locator(".credits")).to_have_text("Credits: 5 (below the minimum)")
    await expect(beta.locator(".credits")).to_have_text("Credits: 1,000 (in use)")
    await expect(gamma.locator(".credits")).to_have_text("Credits: 1,000 (ready)")
    await screenshot(tab, "console-accounts")


@pytest.mark.timeout(seconds=60)
async def test_import_a_peers_file_and_export(
    page: Any, fake: FakeUpstream, tokens_path: Path, watcher: FileWatcher, tmp_path: Path
) -> None:
    tab = page
    fake.add_account("rt-six", "proj-zeta-0006", "zeta@example.com")
    nodejs = tmp_path / "accounts.json"  # antigravity2api-nodejs's data/accounts.json
    nodejs.write_text(
        json.dumps(
            [
                {
                    "access_token": "ya29.old",
                    "refresh_token": "rt-six",
                    "expires_in": 3599,
                    "timestamp": int(time.time() * 1000),
                    "projectId": "proj-zeta-0006",
                    "email": "zeta@example.com",
                    "enable": True,
                },
                {"refresh_token": ""},
            ]
        )
    )
    await show(tab, "accounts")
    await tab.set_input_files("#import-files", str(nodejs))
    await expect(tab.locator("#notice")).to_contain_text("Imported: 1 added, 0 updated")
    await expect(tab.locator("#notice")).to_contain_text("skipped accounts.json")
    await expect(card(tab, "proj…0006")).to_contain_text("zeta@example.com")
    assert file_projects(tokens_path)["proj-zeta-0006"]["refresh_token"] == "rt-six"

    await tab.select_option("#export-format", "nodejs")
    await tab.check("#export-plaintext")
    async with tab.expect_download() as downloading:
        await tab.click("#export-link")
    saved = await (await downloading.value).path()
    exported = json.loads(Path(saved).read_text())
    assert {a["refresh_token"] for a in exported} >= {"rt-one", "rt-two", "rt-three", "rt-six"}

    # The CLIProxyAPI export is a zip: the picker offers zips, and takes this one back.
    accepted = (await tab.get_attribute("#import-files", "accept") or "").split(",")
    assert ".zip" in accepted and ".json" in accepted
    await tab.select_option("#export-format", "cliproxy")
    async with tab.expect_download() as downloading:
        await tab.click("#export-link")
    download = await downloading.value
    assert download.suggested_filename == "cliproxy-auths.zip"
    zipped = tmp_path / download.suggested_filename
    await download.save_as(zipped)
    await tab.set_input_files("#import-files", str(zipped))
    await expect(tab.locator("#notice")).to_contain_text("Imported: 0 added, 4 updated")


@pytest.mark.parametrize(
    "config_overrides",
    [{"admin_key": ADMIN, "upstream": {"proxy": "http://user:pw-default@127.0.0.1:9"}}],
)
@pytest.mark.timeout(seconds=60)
async def test_each_accounts_proxy_and_where_it_is_set(
    page: Any,
    services: Services,
    tokens_path: Path,
    watcher: FileWatcher,
    config_overrides: dict[str, Any],
) -> None:
    doc = json.loads(tokens_path.read_text())
    doc["projects"][1]["proxy"] = "socks5h://me:pw-own@127.0.0.1:1080"
    doc["projects"][2]["proxy"] = "direct"
    tokens_path.write_text(json.dumps(doc))
    await watcher.wait_for(lambda: services.pool.accounts[2].proxy == "direct")
    tab = page
    await show(tab, "accounts")
    proxies = [(i, card(tab, f"proj…000{i}").locator("dd.proxy")) for i in (1, 2, 3)]
    expected = {
        1: "http://***@127.0.0.1:9 · the default (upstream.proxy)",
        2: "socks5h://***@127.0.0.1:1080 · its own (tokens.json)",
        3: "direct · its own (tokens.json)",
    }
    for i, shown in proxies:
        await expect(shown).to_have_text(expected[i])
    assert "pw-" not in await tab.content()


@pytest.mark.timeout(seconds=60)
async def test_on_a_phone(page: Any) -> None:
    tab = page
    await tab.set_viewport_size({"width": 390, "height": 844})
    await show(tab, "accounts")
    await tab.click("#check-quota")
    await expect(tab.locator("article.account .quota").first).to_be_visible()
    assert await tab.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 0
    await screenshot(tab, "console-accounts-phone")
