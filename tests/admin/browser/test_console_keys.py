"""The Keys page in Chromium: create a key and use it, edit its policy into a 429, disable it,
enable it again and delete it — with gateway.yaml, edited by hand at the same time, as the
source of truth."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import openai
import pytest
import yaml
from playwright.async_api import expect

from ag2api.server.watch import FileWatcher
from tests.support.clients import openai_sdk
from tests.support.console import refreshed, screenshot, show
from tests.support.helpers import chat_text


async def key_row(tab: Any, label: str) -> Any:
    row = tab.locator(f'#keys tr[data-key="{label}"]')
    await row.wait_for()
    return row


@pytest.mark.timeout(seconds=90)
async def test_create_use_limit_disable_delete(
    page: Any, base_url: str, config_path: Path, watcher: FileWatcher
) -> None:
    tab = page
    await show(tab, "keys")
    await tab.click("#new-key")
    await tab.fill("#key-label", "ci-bot")
    await tab.fill("#key-models", "gemini-*")
    await tab.click("#key-save")
    await tab.wait_for_selector("#key-shown[open]")
    key = await tab.input_value("#key-value")
    assert key.startswith("sk-ag-")
    text = config_path.read_text()
    assert key not in text and "label: ci-bot" in text and 'key: "sha256:' in text
    await tab.click("#key-shown button[value=done]")
    row = await key_row(tab, "ci-bot")
    assert "active" in await row.inner_text()
    await screenshot(tab, "console-keys")

    client = openai_sdk(base_url, key)
    assert (await chat_text(client)).endswith("You said: hi")  # in force: the reload applied it
    with pytest.raises(openai.PermissionDeniedError):  # its policy allows only gemini-*
        await chat_text(client, model="claude-sonnet-4-5")

    await row.get_by_role("button", name="Edit ci-bot").click()
    await tab.fill("#key-rpm", "1")
    await tab.press("#key-rpm", "Enter")  # Enter in a field saves
    await tab.locator("#key-dialog").wait_for(state="hidden")
    assert yaml.safe_load(config_path.read_text())["api_keys"][-1]["policy"]["rpm"] == 1
    await watcher.wait_for(lambda: watcher_policy_rpm(watcher) == 1)
    await chat_text(client)
    with pytest.raises(openai.RateLimitError):
        await chat_text(client)
    await refreshed(tab)
    await expect(row).to_contain_text("1 / 1")  # the live count against the limit

    await row.get_by_role("button", name="Disable ci-bot").click()
    await expect(row.locator(".badge")).to_have_text("disabled")
    with pytest.raises(openai.AuthenticationError):
        await chat_text(client)

    await row.get_by_role("button", name="Delete ci-bot").click()
    await tab.click("#confirm-yes")
    await tab.locator('#keys tr[data-key="ci-bot"]').wait_for(state="detached")
    assert "ci-bot" not in config_path.read_text()
    await client.close()


def watcher_key(watcher: FileWatcher) -> Any:
    return next(k for k in watcher._live.current.api_keys if k.label == "ci-bot")


def watcher_policy_rpm(watcher: FileWatcher) -> int | None:
    cfg = watcher._live.current
    key = next((k for k in cfg.api_keys if k.label == "ci-bot"), None)
    return key.policy.rpm if key is not None and key.policy is not None else None


@pytest.mark.timeout(seconds=60)
async def test_a_hand_edit_made_meanwhile_is_kept(
    page: Any, config_path: Path, watcher: FileWatcher
) -> None:
    """A person edits gateway.yaml by hand (a comment, a setting, a key) and, before the gateway
    has even reloaded it, the console creates a key: both changes are in the file and in force."""
    tab = page
    await show(tab, "keys")
    by_hand = (
        "# keys: ask the platform team\napi_keys:\n- {key: sk-by-hand-000000001, label: by-hand}\n"
    )
    hand = config_path.read_text().replace("api_keys:\n", by_hand)
    hand = hand.replace("cache_ttl: 600", "cache_ttl: 300  # edited by hand")
    config_path.write_text(hand)
    await tab.click("#new-key")
    await tab.fill("#key-label", "from-console")
    await tab.click("#key-save")
    await tab.wait_for_selector("#key-shown[open]")
    text = config_path.read_text()
    assert "# keys: ask the platform team" in text and "cache_ttl: 300  # edited by hand" in text
    assert "label: by-hand" in text and "label: from-console" in text
    await tab.click("#key-shown button[value=done]")
    await key_row(tab, "by-hand")  # the hand-added key is on the page too
    await key_row(tab, "from-console")
    labels = {k.label for k in watcher._live.current.api_keys}
    assert {"by-hand", "from-console", "tests"} <= labels
    assert watcher._live.current.models.cache_ttl == 300
