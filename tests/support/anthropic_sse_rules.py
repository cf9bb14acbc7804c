"""The Anthropic streaming contract as a checker (docs/clients/claude-code.md, "Streaming
contract").

``check(events)`` takes (event name, data) pairs — from a translator, or from raw SSE bytes via
``parse(raw)`` — and raises AssertionError naming the first broken rule. Reusable by e2e tests
that read the gateway's raw stream.
"""

from __future__ import annotations

import json
from typing import Any

STOP_REASONS = {"end_turn", "max_tokens", "stop_sequence", "tool_use", "pause_turn", "refusal"}
DELTAS = {
    "text": {"text_delta"},
    "thinking": {"thinking_delta", "signature_delta"},
    "tool_use": {"input_json_delta"},
}
USAGE_KEYS = ("input_tokens", "output_tokens")

Events = list[tuple[str | None, dict[str, Any]]]


def parse(raw: bytes | str) -> Events:
    """SSE frames → (event, data); every frame must have an ``event:`` line and JSON data."""
    text = raw.decode() if isinstance(raw, bytes) else raw
    out: Events = []
    for frame in text.replace("\r\n", "\n").split("\n\n"):
        lines = [line for line in frame.split("\n") if line and not line.startswith(":")]
        if not lines:
            continue
        names = [line[6:].strip() for line in lines if line.startswith("event:")]
        data = "\n".join(line[5:].lstrip() for line in lines if line.startswith("data:"))
        assert len(names) == 1, f"frame without exactly one event: line: {frame!r}"
        out.append((names[0], json.loads(data)))
    return out


def check(events: Events, *, complete: bool = True) -> None:
    """Assert the contract. ``complete=False``: the stream may end in an ``error`` event."""
    assert events, "empty stream"
    body = [(n, d) for n, d in events if n != "ping"]
    for name, data in events:
        assert data.get("type") == name, f"event {name!r} carries data.type {data.get('type')!r}"
    assert body and body[0][0] == "message_start", f"first event is {body[0][0] if body else None}"
    _check_start(body[0][1])
    started = 0
    open_block: dict[str, Any] | None = None
    deltas: list[dict[str, Any]] = []
    stop_reason: str | None = None
    finished = False
    for name, data in body[1:]:
        assert not finished, f"{name} after message_stop"
        if name == "error":
            assert not complete, f"error event in a stream expected to complete: {data}"
            assert isinstance(data.get("error"), dict) and data["error"].get("type"), data
            assert events[-1][0] == "error", "events after the error event"
            return
        if name == "message_start":
            raise AssertionError("a second message_start")
        if name == "content_block_start":
            assert stop_reason is None, "block started after message_delta"
            assert open_block is None, f"block {data['index']} starts while {started - 1} is open"
            assert data["index"] == started, f"index {data['index']}, expected {started}"
            block = data["content_block"]
            assert block["type"] in DELTAS, f"unknown block type {block['type']}"
            if block["type"] == "tool_use":
                assert block.get("id") and block.get("name"), block
                assert block.get("input") == {}, "tool_use starts with empty input"
            open_block, deltas = block, []
            started += 1
        elif name == "content_block_delta":
            assert open_block is not None, f"delta for block {data['index']}, none open"
            assert data["index"] == started - 1, f"delta for {data['index']}, open {started - 1}"
            kind = data["delta"]["type"]
            assert kind in DELTAS[open_block["type"]], f"{kind} in a {open_block['type']} block"
            if deltas and deltas[-1]["type"] == "signature_delta":
                raise AssertionError("a delta after signature_delta")
            deltas.append(data["delta"])
        elif name == "content_block_stop":
            assert open_block is not None, f"stop for block {data['index']}, none open"
            assert data["index"] == started - 1, f"stop for {data['index']}, open {started - 1}"
            assert deltas, f"block {data['index']} has no delta"
            _check_block(open_block, deltas)
            open_block = None
        elif name == "message_delta":
            assert open_block is None, "message_delta while a block is open"
            reason = data["delta"].get("stop_reason")
            if stop_reason is None:
                assert reason in STOP_REASONS, f"stop_reason {reason!r}"
                stop_reason = reason
            assert isinstance(data.get("usage", {}).get("output_tokens"), int), data
        elif name == "message_stop":
            assert stop_reason is not None, "message_stop before a message_delta"
            finished = True
        else:
            raise AssertionError(f"unknown event {name}")
    if complete:
        assert finished, "stream ended without message_stop"


def _check_start(data: dict[str, Any]) -> None:
    message = data["message"]
    assert message["type"] == "message" and message["role"] == "assistant", message
    assert message["content"] == [] and message["stop_reason"] is None, message
    for key in USAGE_KEYS:
        assert isinstance(message["usage"].get(key), int), message["usage"]


def _check_block(block: dict[str, Any], deltas: list[dict[str, Any]]) -> None:
    if block["type"] == "thinking":
        signatures = [d for d in deltas if d["type"] == "signature_delta"]
        assert len(signatures) == 1, "a thinking block needs exactly one signature_delta"
        assert deltas[-1]["type"] == "signature_delta", "signature_delta must come last"
    if block["type"] == "tool_use":
        text = "".join(d["partial_json"] for d in deltas)
        assert isinstance(json.loads(text), dict), f"tool input is not an object: {text}"


def final_message(events: Events) -> dict[str, Any]:
    """The message the events describe (like the SDK's accumulate), for content assertions."""
    message: dict[str, Any] = {}
    for name, data in events:
        if name == "message_start":
            message = {**data["message"], "content": []}
        elif name == "content_block_start":
            message["content"].append(dict(data["content_block"]))
        elif name == "content_block_delta":
            block, delta = message["content"][data["index"]], data["delta"]
            if delta["type"] == "text_delta":
                block["text"] += delta["text"]
            elif delta["type"] == "thinking_delta":
                block["thinking"] += delta["thinking"]
            elif delta["type"] == "signature_delta":
                block["signature"] = delta["signature"]
            else:
                block["_json"] = block.get("_json", "") + delta["partial_json"]
        elif name == "content_block_stop":
            block = message["content"][data["index"]]
            if "_json" in block:
                block["input"] = json.loads(block.pop("_json"))
        elif name == "message_delta":
            message["stop_reason"] = data["delta"].get("stop_reason") or message["stop_reason"]
            message["usage"] = {**message["usage"], **data["usage"]}
    return message
