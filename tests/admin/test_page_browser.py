"""The status page in a real browser: headless Chromium driven over the DevTools protocol.

Chromium is Debian's package, installed by the README's test command (scripts/test.sh) when it can;
the suite never installs anything itself, and skips this test, saying why, without it. A screenshot
of the page (desktop and phone width) is kept in test-artifacts/.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from tornado.websocket import WebSocketClientConnection, websocket_connect

from ag2api.testing.fake_upstream import FakeUpstream
from tests.support.clients import ADMIN
from tests.support.helpers import chat_text

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    "--remote-debugging-port=0",
]


@pytest.fixture(scope="session")
def chromium() -> str:
    path = shutil.which("chromium")
    if path is None:
        pytest.skip("needs Debian's chromium on PATH (scripts/test.sh installs it when it can)")
    return path


class DevTools:
    """Just enough of the Chrome DevTools protocol: commands, and waiting for an event."""

    def __init__(self, ws: WebSocketClientConnection) -> None:
        self.ws = ws
        self.ids = itertools.count(1)
        self.events: list[dict[str, Any]] = []
        self.session: str | None = None

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        msg_id = next(self.ids)
        message: dict[str, Any] = {"id": msg_id, "method": method, "params": params}
        if self.session and not method.startswith("Target."):
            message["sessionId"] = self.session
        await self.ws.write_message(json.dumps(message))
        while True:
            reply = await self._read()
            if reply.get("id") == msg_id:
                assert "error" not in reply, reply
                return reply.get("result", {})
            self.events.append(reply)

    async def wait_event(self, method: str) -> dict[str, Any]:
        while True:
            for i, event in enumerate(self.events):
                if event.get("method") == method:
                    return self.events.pop(i)
            self.events.append(await self._read())

    async def _read(self) -> dict[str, Any]:
        raw = await self.ws.read_message()
        assert raw is not None, "the browser closed the connection"
        return json.loads(raw)

    async def evaluate(self, expression: str) -> Any:
        result = await self.call(
            "Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True
        )
        return result["result"].get("value")

    async def load(self, action: str, **params: Any) -> None:
        await self.call(action, **params)
        await self.wait_event("Page.loadEventFired")

    async def screenshot(self, name: str) -> Path:
        """The whole page, not just the viewport."""
        size = (await self.call("Page.getLayoutMetrics"))["cssContentSize"]
        clip = {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1}
        data = (
            await self.call(
                "Page.captureScreenshot", format="png", clip=clip, captureBeyondViewport=True
            )
        )["data"]
        ARTIFACTS.mkdir(exist_ok=True)
        path = ARTIFACTS / name
        path.write_bytes(base64.b64decode(data))
        return path


# ruff: noqa: E501 (the page-inspection script below reads better unwrapped)
PAGE_FACTS = """JSON.stringify({
  title: document.title,
  path: location.pathname,
  accounts: [...document.querySelectorAll('.account')].map(a => [a.dataset.project, a.dataset.state]),
  bars: [...document.querySelectorAll('.quota-bar')].map(b => ({
      model: b.dataset.model, remaining: Number(b.dataset.remaining),
      width: b.querySelector('.quota-fill').getBoundingClientRect().width,
      track: b.querySelector('.quota-track').getBoundingClientRect().width})),
  days: document.querySelectorAll('#usage-chart .bar').length,
  tallest: Math.max(...[...document.querySelectorAll('#usage-chart .bar')].map(b => b.getBoundingClientRect().height)),
  overflow: document.documentElement.scrollWidth - window.innerWidth,
})"""


@pytest.mark.timeout(seconds=120)
@pytest.mark.parametrize("config_overrides", [{"admin_key": ADMIN}])
async def test_status_page_in_chromium(
    chromium: str,
    base_url: str,
    client: Any,
    fake: FakeUpstream,
    tmp_path: Path,
    config_overrides: dict[str, Any],
) -> None:
    for stream in (True, False):
        await chat_text(client, stream=stream)
    proc = await asyncio.create_subprocess_exec(
        chromium,
        *FLAGS,
        f"--user-data-dir={tmp_path / 'profile'}",
        "about:blank",
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert proc.stderr is not None
        line = b""
        while b"DevTools listening on" not in line:
            line = await asyncio.wait_for(proc.stderr.readline(), 60)
            assert line, "chromium exited before it listened"
        ws = await websocket_connect(
            line.decode().split("on ", 1)[1].strip(), max_message_size=64 * 1024 * 1024
        )
        cdp = DevTools(ws)
        target = await cdp.call("Target.createTarget", url="about:blank")
        attached = await cdp.call(
            "Target.attachToTarget", targetId=target["targetId"], flatten=True
        )
        cdp.session = attached["sessionId"]
        await cdp.call("Page.enable")
        await cdp.load("Page.navigate", url=base_url + "/admin/")  # → the login form
        assert await cdp.evaluate("location.pathname") == "/admin/login"
        await cdp.load(
            "Runtime.evaluate",
            expression=(
                f"document.querySelector('#key').value = '{ADMIN}';"
                "document.querySelector('form').submit()"
            ),
        )
        facts = json.loads(await cdp.evaluate(PAGE_FACTS))
        assert facts["path"] == "/admin/" and facts["title"] == "ag2api · status"
        assert facts["accounts"] == [
            ["proj…0001", "enabled"],
            ["proj…0002", "enabled"],
            ["proj…0003", "enabled"],
        ]
        bars = {(b["model"], round(b["remaining"], 2)) for b in facts["bars"]}
        assert ("gemini-2.5-flash", 0.9) in bars and ("claude-sonnet-4-5-thinking", 0.0) in bars
        for bar in facts["bars"]:  # each bar is drawn at its share of the track
            assert abs(bar["width"] - bar["remaining"] * bar["track"]) < 2
        assert facts["days"] == 14 and facts["tallest"] > 0
        await cdp.screenshot("admin-status.png")
        await cdp.call(
            "Emulation.setDeviceMetricsOverride",
            width=390,
            height=844,
            deviceScaleFactor=2,
            mobile=True,
        )
        phone = json.loads(await cdp.evaluate(PAGE_FACTS))
        assert phone["overflow"] <= 0  # readable on a phone: nothing wider than the screen
        shot = await cdp.screenshot("admin-status-phone.png")
        assert shot.stat().st_size > 10_000
        ws.close()
    finally:
        proc.kill()
        await proc.wait()
