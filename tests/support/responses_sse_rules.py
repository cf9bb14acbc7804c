"""The Responses streaming contract as a checker (docs/clients/codex.md, "Stream event
sequence").

``check(events)`` takes (event name, data) pairs — from the translator, or from raw SSE bytes via
``parse(raw)`` — and raises AssertionError naming the first broken rule: ``response.created``
then ``response.in_progress`` first; ``sequence_number`` counting from 0; every item announced
by ``output_item.added`` (``output_index`` in arrival order) and finished by exactly one
``output_item.done`` with the same identity and the complete content its deltas built; content
events only for the open item, parts announced before their deltas; exactly one terminal event
(``response.completed`` / ``incomplete`` / ``failed``), last, with the created response's id, the
finished items as ``output`` and the usage Codex reads.
"""

from __future__ import annotations

import json
from typing import Any

from tests.support.anthropic_sse_rules import parse as named_frames

Events = list[tuple[str | None, dict[str, Any]]]
TERMINAL = ("response.completed", "response.incomplete", "response.failed")
USAGE_KEYS = ("input_tokens", "output_tokens", "total_tokens")
# Content events → the key naming their sub-part (None: the item itself).
CONTENT = {
    "response.content_part.added": "content_index",
    "response.output_text.delta": "content_index",
    "response.output_text.done": "content_index",
    "response.content_part.done": "content_index",
    "response.reasoning_summary_part.added": "summary_index",
    "response.reasoning_summary_text.delta": "summary_index",
    "response.reasoning_summary_text.done": "summary_index",
    "response.reasoning_summary_part.done": "summary_index",
    "response.function_call_arguments.delta": None,
    "response.function_call_arguments.done": None,
    "response.custom_tool_call_input.delta": None,
    "response.custom_tool_call_input.done": None,
}


def parse(raw: bytes | str) -> Events:
    """SSE frames → (event, data); each frame has one ``event:`` line naming ``data.type``
    (the framing Anthropic uses too), and there is no ``[DONE]`` (json fails on it)."""
    out = named_frames(raw)
    for name, payload in out:
        assert payload.get("type") == name, f"event {name} carries type {payload}"
    return out


class _Item:
    def __init__(self, item: dict[str, Any]) -> None:
        self.item = item
        self.done = False
        self.parts: dict[int, str] = {}  # sub-part index → text built by its deltas
        self.announced: set[int] = set()
        self.raw = ""  # arguments / custom input built by deltas


def check(events: Events) -> dict[str, Any]:
    """Assert the contract; return the terminal event's response."""
    assert events, "empty stream"
    names = [name for name, _ in events]
    assert names[:2] == ["response.created", "response.in_progress"], names[:3]
    for n, (name, data) in enumerate(events):
        assert data.get("type") == name, f"event {n}: type {data.get('type')} under {name}"
        assert data.get("sequence_number") == n, (
            f"event {n} ({name}): {data.get('sequence_number')}"
        )
    terminal = [n for n, name in enumerate(names) if name in TERMINAL]
    assert terminal == [len(events) - 1], f"terminal events at {terminal} of {len(events)}"
    rid = events[0][1]["response"]["id"]
    items: list[_Item] = []
    finished: list[dict[str, Any]] = []
    for name, data in events[2:-1]:
        assert name != "response.created", "a second response.created"
        if name == "response.output_item.added":
            assert data["output_index"] == len(items), f"added out of order: {data}"
            assert all(i.done for i in items), f"item added while another is open: {data}"
            items.append(_Item(data["item"]))
        elif name == "response.output_item.done":
            current = _open(items, data, name)
            _identical(current.item, data["item"])
            _complete(current, data["item"])
            current.done = True
            finished.append(data["item"])
        elif name in CONTENT:
            _content(_open(items, data, name), name, data, CONTENT[name])
    assert all(i.done for i in items) or names[-1] == "response.failed", "item left open"
    last_name, last = events[-1]
    response = last["response"]
    assert response["id"] == rid, "the terminal response is another response"
    assert response["status"] == last_name.rsplit(".", 1)[1], response["status"]
    if last_name != "response.failed":
        assert response["output"] == finished, "terminal output differs from the done items"
        usage = response["usage"]
        assert all(isinstance(usage[k], int) for k in USAGE_KEYS), usage
        assert "cached_tokens" in usage["input_tokens_details"], usage
        assert "reasoning_tokens" in usage["output_tokens_details"], usage
    else:
        assert response["error"]["code"] and response["error"]["message"], response["error"]
    return response  # type: ignore[no-any-return]


def _open(items: list[_Item], data: dict[str, Any], name: str) -> _Item:
    index = data["output_index"]
    assert 0 <= index < len(items), f"{name} for unknown output_index {index}"
    current = items[index]
    assert not current.done, f"{name} after the item's output_item.done"
    if "item_id" in data:
        assert data["item_id"] == current.item["id"], f"{name}: item_id {data['item_id']}"
    return current


def _identical(added: dict[str, Any], done: dict[str, Any]) -> None:
    for key in ("id", "type", "call_id", "name"):
        assert added.get(key) == done.get(key), f"item {key} changed: {added} → {done}"


def _content(current: _Item, name: str, data: dict[str, Any], key: str | None) -> None:
    if key is None:
        if name.endswith(".delta"):
            current.raw += data["delta"]
        else:
            final = data.get("arguments", data.get("input"))
            assert final == current.raw, f"{name}: {final!r} is not the deltas {current.raw!r}"
        return
    index = data[key]
    if name.endswith("part.added"):
        assert index not in current.announced, f"{name} twice for {key} {index}"
        current.announced.add(index)
        current.parts[index] = ""
        return
    assert index in current.announced, f"{name} before its part was added ({key} {index})"
    if name.endswith(".delta"):
        current.parts[index] += data["delta"]


def _complete(current: _Item, item: dict[str, Any]) -> None:
    kind = item["type"]
    if kind == "message":
        texts = [c["text"] for c in item["content"]]
        assert texts == [current.parts[i] for i in sorted(current.parts)], "message text"
    elif kind == "reasoning":
        texts = [s["text"] for s in item["summary"]]
        assert texts == [current.parts[i] for i in sorted(current.parts)], "reasoning summary"
    elif kind == "function_call":
        assert item["arguments"] == current.raw, "arguments differ from their deltas"
        json.loads(item["arguments"])
        assert item["call_id"], item
    elif kind == "custom_tool_call":
        assert item["input"] == current.raw and item["call_id"], item
