"""The gateway's raw `/v1/messages` stream against the streaming contract
(``tests/support/anthropic_sse_rules.py``), and ``ping`` during upstream silence."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from ag2api.testing.fake_upstream import FakeUpstream, Step
from tests.support.anthropic_sse_rules import check, final_message, parse
from tests.support.clients import ANTHROPIC_HEADERS
from tests.support.http import fetch

TOOLS = [
    {
        "name": name,
        "description": f"the {name} tool",
        "input_schema": {
            "type": "object",
            "properties": {"path": {"type": "string"}},
            "required": ["path"],
        },
    }
    for name in ("Read", "Glob")
]
THINK = {"type": "enabled", "budget_tokens": 1024}
CASES: dict[str, dict[str, Any]] = {
    "text": {"model": "gemini-2.5-flash", "thinking": {"type": "disabled"}},
    "thinking+text": {"model": "claude-sonnet-4-5-thinking", "thinking": THINK},
    "thinking+tool_use": {
        "model": "claude-sonnet-4-5-thinking",
        "thinking": THINK,
        "tools": TOOLS,
        "prompt": "please Read it",
    },
    "parallel tool calls": {
        "model": "gemini-3-pro-high",
        "thinking": THINK,
        "tools": TOOLS,
        "prompt": "Read and Glob in parallel",
    },
    "max_tokens": {"model": "gemini-2.5-flash", "max_tokens": 3, "thinking": {"type": "disabled"}},
}
EXPECTED = {
    "text": (["text"], "end_turn"),
    "thinking+text": (["thinking", "text"], "end_turn"),
    "thinking+tool_use": (["thinking", "tool_use"], "tool_use"),
    "parallel tool calls": (["thinking", "tool_use", "tool_use"], "tool_use"),
    "max_tokens": (["text"], "max_tokens"),
}


async def post_stream(
    base_url: str,
    body: dict[str, Any],
    on_chunk: Callable[[bytes], None] = lambda chunk: None,
    on_header: Callable[[str], None] = lambda line: None,
) -> tuple[int, bytes]:
    chunks: list[bytes] = []

    def collect(chunk: bytes) -> None:
        chunks.append(chunk)
        on_chunk(chunk)

    answer = await fetch(
        base_url + "/v1/messages?beta=true",
        body={**body, "stream": True},
        headers=ANTHROPIC_HEADERS,
        streaming_callback=collect,
        header_callback=on_header,
    )
    return answer.code, b"".join(chunks)


def body_for(case: dict[str, Any]) -> dict[str, Any]:
    body = {k: v for k, v in case.items() if k != "prompt"}
    body.setdefault("max_tokens", 4096)
    body["messages"] = [{"role": "user", "content": case.get("prompt", "hello there")}]
    return body


async def test_stream_follows_the_contract(base_url: str) -> None:
    for name, case in CASES.items():
        status, raw = await post_stream(base_url, body_for(case))
        assert status == 200, name
        events = parse(raw)  # every frame has its event: line
        check(events)
        message = final_message(events)
        blocks, reason = EXPECTED[name]
        assert [b["type"] for b in message["content"]] == blocks, name
        assert message["stop_reason"] == reason, name
        for block in message["content"]:
            if block["type"] == "thinking":
                assert block["signature"].startswith("ag2:") and block["thinking"]
            if block["type"] == "tool_use":
                assert block["input"] == {"path": "path-value"}
        assert message["usage"]["output_tokens"] > 0


@pytest.mark.parametrize("config_overrides", [{"server": {"keepalive": 0.05}}])
async def test_ping_only_after_the_first_upstream_event(
    fake: FakeUpstream, base_url: str, config_overrides: dict[str, Any]
) -> None:
    """Before the first upstream event nothing is sent (a failure is still a real status and
    fails over); after it, silence is filled with ``event: ping``."""
    before, after = asyncio.Event(), asyncio.Event()
    fake.script(Step(hold=before, hold_after=0), Step(hold=after, hold_after=1))
    headers: list[str] = []
    waiting = asyncio.ensure_future(
        post_stream(base_url, body_for(CASES["text"]), on_header=headers.append)
    )
    await fake.wait_generate_requests(1)  # the first stream is armed and silent upstream
    pings = asyncio.Event()
    seen: list[bytes] = []

    def count(chunk: bytes) -> None:
        seen.append(chunk)
        if b"".join(seen).count(b"event: ping") >= 3:
            pings.set()

    talking = asyncio.ensure_future(post_stream(base_url, body_for(CASES["text"]), count))
    await pings.wait()  # three keepalive periods passed since the second stream's first event
    assert headers == [] and not waiting.done()  # ... and the first one sent nothing at all
    before.set()
    after.set()
    (status, raw), (status2, raw2) = await asyncio.gather(waiting, talking)
    assert status == status2 == 200
    assert raw.startswith(b"event: message_start")
    check(parse(raw))
    events = parse(raw2)
    check(events)
    names = [n for n, _ in events]
    assert names.index("ping") > names.index("content_block_delta")
