"""The contents of a Gemini request: folding converted turns into the alternation Gemini wants,
and closing a Claude tool loop whose thinking cannot be replayed.

With thinking on, Claude rejects a request whose open tool loop (the trailing model turns that
called tools, each answered by tool results) has a turn that does not start with its signed
thinking block ("Expected `thinking` or `redacted_thinking`, but found `tool_use`"). After a
``/model`` switch or a direct-Anthropic history those blocks are foreign and were dropped, and a
Claude signature is never fabricated. So the loop is closed instead (as antigravity-claude-proxy's
``closeToolLoopForThinking`` does; docs/clients/claude-code.md, "Thinking and tool loops on
Claude"): a short model turn acknowledges the results and a user turn asks to continue, and the
model starts a fresh turn — thinking first.
"""

from __future__ import annotations

from typing import Any

from ag2api.models import families


def merge_turns(turns: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Consecutive same-role turns fold together (Gemini wants alternation); in a user turn the
    tool results come first, as the calls they answer expect."""
    out: list[dict[str, Any]] = []
    for turn in turns:
        if out and out[-1]["role"] == turn["role"]:
            out[-1]["parts"].extend(turn["parts"])
            if turn["role"] == "user":
                out[-1]["parts"].sort(key=lambda p: "functionResponse" not in p)
        else:
            out.append({"role": turn["role"], "parts": list(turn["parts"])})
    return out


CLOSED = "[Tool execution completed.]"
CONTINUE = "[Continue]"


def thinking_on(request: dict[str, Any]) -> bool:
    """Whether the finished Gemini request asks the upstream for thoughts."""
    gen = request.get("generationConfig") or {}
    return bool((gen.get("thinkingConfig") or {}).get("includeThoughts"))


def close_unsigned_loop(request: dict[str, Any], model: str) -> bool:
    """Close the open tool loop (in place) where Claude, thinking, would refuse it; whether it
    was closed."""
    contents = request["contents"]
    if (
        families.is_claude(model)
        and thinking_on(request)
        and contents[-1]["role"] == "user"
        and open_loop_unsigned(contents)
    ):
        close_loop(contents)  # never a forged signature: the model starts a fresh turn
        return True
    return False


def open_loop(contents: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The model turns of the open tool loop (the trailing model turns that called tools, each
    answered by tool results), last first; empty when the conversation does not end in one."""
    found: list[dict[str, Any]] = []
    for turn in reversed(contents):
        parts = turn.get("parts") or []
        if turn.get("role") == "user":
            if not any("functionResponse" in p for p in parts):
                break
        elif any("functionCall" in p for p in parts):
            found.append(turn)
        else:
            break
    return found


def open_loop_unsigned(contents: list[dict[str, Any]]) -> bool:
    """Whether a model turn of the open tool loop lacks a leading thought part."""
    return any(not turn["parts"][0].get("thought") for turn in open_loop(contents))


def close_loop(contents: list[dict[str, Any]]) -> None:
    """Append the acknowledging model turn and the user's go-on (in place)."""
    contents.append({"role": "model", "parts": [{"text": CLOSED}]})
    contents.append({"role": "user", "parts": [{"text": CONTINUE}]})
