"""Claude's thinking rules as the fake upstream enforces them (docs/clients/claude-code.md,
"Thinking and tool loops on Claude").

With thinking on, Claude on Antigravity rejects a request whose open tool loop — the trailing
model turns that called tools, each followed by the tool results — has a turn that does not
start with the signed thinking block Claude itself issued for it. Any replayed thought part must
carry a Claude signature the fake issued, with the thinking text it was issued with (the real
signature covers the text). Older, closed turns may come without thinking (Anthropic strips
them), which is what lets a gateway close a loop whose thinking it had to drop.

Hook (fake_upstream ``GenerateHandler.post``): keep ``claude_thinking: dict[str, str]`` on the
fake; before answering ``problem = check(model, request, fake.claude_thinking)`` → 400 with
:func:`error_body`; after building the events ``remember(model, events, fake.claude_thinking)``.
``check`` also takes the fake's plain ``issued_signatures`` set (then the text is not compared,
and a Gemini signature would pass for a Claude one — the set does not record the family).
"""

from __future__ import annotations

import json
from collections.abc import Container, Iterable, Mapping
from typing import Any


def check(model: str, request: dict[str, Any], issued: Container[str]) -> str | None:
    """The Anthropic error message the real backend would give, or None."""
    if not model.startswith("claude"):
        return None
    contents = [t for t in request.get("contents") or () if isinstance(t, dict)]
    for n, turn in enumerate(contents):
        for k, part in enumerate(turn.get("parts") or ()):
            if isinstance(part, dict) and part.get("thought"):
                problem = _thought_problem(part, issued)
                if problem:
                    return f"messages.{n}.content.{k}: {problem}"
    thinking = ((request.get("generationConfig") or {}).get("thinkingConfig")) or {}
    if not thinking.get("includeThoughts"):
        return None
    for n in _open_loop(contents):
        parts = contents[n].get("parts") or [{}]
        if not parts[0].get("thought"):
            kind = "tool_use" if "functionCall" in parts[0] else "text"
            return (
                f"messages.{n}.content.0.type: Expected `thinking` or `redacted_thinking`, but "
                f"found `{kind}`. When `thinking` is enabled, a final `assistant` message must "
                "start with a thinking block (preceeding the lastmost set of `tool_use` and "
                "`tool_result` blocks)."
            )
    return None


def _thought_problem(part: dict[str, Any], issued: Container[str]) -> str | None:
    sig = part.get("thoughtSignature")
    if not isinstance(sig, str) or not sig:
        return "thinking.signature: Field required"
    if sig not in issued:
        return "Invalid `signature` in `thinking` block"
    if isinstance(issued, Mapping) and issued[sig] != part.get("text"):
        return "Invalid `signature` in `thinking` block"
    return None


def _open_loop(contents: list[dict[str, Any]]) -> list[int]:
    """Indexes of the model turns of the open tool loop (empty when the last turn is not one)."""
    out: list[int] = []
    for n in range(len(contents) - 1, -1, -1):
        parts = [p for p in contents[n].get("parts") or () if isinstance(p, dict)]
        if contents[n].get("role") == "user":
            if not any("functionResponse" in p for p in parts):
                break
        elif any("functionCall" in p for p in parts):
            out.append(n)
        else:
            break
    return out


def remember(model: str, events: Iterable[dict[str, Any]], ledger: dict[str, str]) -> None:
    """Record signature → thinking text for the Claude thinking the fake just answered with."""
    if not model.startswith("claude"):
        return
    text: list[str] = []
    for event in events:
        for cand in ((event.get("response") or {}).get("candidates") or ())[:1]:
            for part in (cand.get("content") or {}).get("parts") or ():
                if part.get("thought") and isinstance(part.get("text"), str):
                    text.append(part["text"])
                sig = part.get("thoughtSignature")
                if isinstance(sig, str) and sig and "functionCall" not in part:
                    ledger[sig] = "".join(text)
                    text = []


def error_body(message: str) -> dict[str, Any]:
    """The Google 400 wrapping Claude's own error as a JSON string (docs/protocol.md §5.1)."""
    inner = {
        "type": "error",
        "error": {"type": "invalid_request_error", "message": message},
        "request_id": "req_vrtx_fake",
    }
    return {"error": {"code": 400, "message": json.dumps(inner), "status": "INVALID_ARGUMENT"}}


def count_tokens_problem(body: Any) -> str | None:
    """countTokens takes exactly ``{"request": {...}}`` (AM PR #3295); None when it does."""
    if not isinstance(body, dict) or not isinstance(body.get("request"), dict):
        return "countTokens needs a 'request' object"
    extra = sorted(set(body) - {"request"})
    if extra:
        return f'Invalid JSON payload received. Unknown name "{extra[0]}": Cannot find field.'
    if "safetySettings" in body["request"]:
        return "Invalid JSON payload received. Unknown name \"safetySettings\" at 'request'"
    return None
