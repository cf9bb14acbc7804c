"""Anthropic ``system`` and ``messages`` → Gemini ``systemInstruction`` parts and ``contents``.

Unknown block types are skipped (Claude Code adds new ones every few releases and sheds features
on each 400); a known block with a wrong shape is a 400 naming ``messages``. ``cache_control``,
``citations`` and every other extra key never reach the upstream: parts are built field by field.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ag2api.errors import InvalidRequest
from ag2api.models.families import SENTINEL, is_claude
from ag2api.translate.anthropic_messages.signatures import (
    new_tool_use_id,
    unpack_tool_use_id,
    unwrap_thinking,
)
from ag2api.translate.gemini.turns import merge_turns
from ag2api.translate.input import too_deep

# Claude Code's per-request attribution block; it changes per version and would bust caching.
ATTRIBUTION = "x-anthropic-billing-header:"
IMAGE_TYPES = ("image/jpeg", "image/png", "image/gif", "image/webp")


@dataclass
class Converted:
    system: list[dict[str, Any]] = field(default_factory=list)
    contents: list[dict[str, Any]] = field(default_factory=list)
    dropped_thinking: int = 0  # thinking blocks not replayable to this model


def system_parts(system: Any) -> list[dict[str, Any]]:
    if system is None:
        return []
    if isinstance(system, str):
        return [{"text": system}] if system.strip() else []
    if not isinstance(system, list):
        raise InvalidRequest("'system' must be a string or an array of text blocks", param="system")
    parts: list[dict[str, Any]] = []
    for i, block in enumerate(system):
        if not isinstance(block, dict) or not isinstance(block.get("text"), str):
            raise InvalidRequest(f"system.{i} must be a text block", param="system")
        text = block["text"]
        if text.strip() and not text.startswith(ATTRIBUTION):
            parts.append({"text": text})
    return parts


def convert_messages(
    messages: Any, *, model: str, keep_thinking: bool, tool_name: Callable[[str], str]
) -> Converted:
    """``tool_name`` maps a client tool name to the declared one."""
    if not isinstance(messages, list) or not messages:
        raise InvalidRequest("'messages' must be a non-empty array", param="messages")
    out = Converted()
    calls: dict[str, str] = {}  # client tool_use id → declared name, for tool results
    turns: list[dict[str, Any]] = []
    for i, msg in enumerate(messages):
        role = msg.get("role") if isinstance(msg, dict) else None
        if role not in ("user", "assistant", "system"):
            raise InvalidRequest(
                f"messages.{i}.role must be user, assistant or system", param="messages"
            )
        blocks = _blocks(msg.get("content"), i)
        if role == "system":
            # Mid-conversation system turns (a 2026 beta) keep their authority in the system
            # instruction; Gemini has no system role inside contents.
            texts = (_text(b, i, j) for j, b in enumerate(blocks) if _is_text(b))
            out.system.extend(p for p in texts if p["text"].strip())
        elif role == "user":
            turns.append({"role": "user", "parts": _user_parts(blocks, i, calls)})
        else:
            parts = _model_parts(blocks, i, calls, model, keep_thinking, tool_name, out)
            turns.append({"role": "model", "parts": parts})
    out.contents = merge_turns([t for t in turns if t["parts"]])
    if not out.contents:
        raise InvalidRequest("'messages' has no user or assistant content", param="messages")
    if out.contents[0]["role"] == "model":
        out.contents.insert(0, {"role": "user", "parts": [{"text": "."}]})
    return out


def _blocks(content: Any, i: int) -> list[Any]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    if not isinstance(content, list):
        raise InvalidRequest(
            f"messages.{i}.content must be a string or an array of blocks", param="messages"
        )
    return content


def _is_text(block: Any) -> bool:
    return isinstance(block, dict) and block.get("type") == "text"


def _text(block: dict[str, Any], i: int, j: int) -> dict[str, Any]:
    text = block.get("text")
    if not isinstance(text, str):
        raise InvalidRequest(f"messages.{i}.content.{j}.text must be a string", param="messages")
    return {"text": text}


def _user_parts(blocks: list[Any], i: int, calls: dict[str, str]) -> list[dict[str, Any]]:
    # tool_result blocks first: Claude wants a turn's results before anything else in it.
    results: list[dict[str, Any]] = []
    others: list[dict[str, Any]] = []
    for j, block in enumerate(blocks):
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "text":
            part = _text(block, i, j)
            if part["text"].strip():
                others.append(part)
        elif kind in ("image", "document"):
            others.append(media_part(block, f"messages.{i}.content.{j}"))
        elif kind == "tool_result":
            response, extra = _tool_result(block, i, j, calls)
            results.append(response)
            others.extend(extra)
        # thinking, tool_use, search results, tool references … in a user turn: skipped
    return results + others


def media_part(block: dict[str, Any], where: str) -> dict[str, Any]:
    source = block.get("source")
    kind = source.get("type") if isinstance(source, dict) else None
    if kind == "base64" and isinstance(source, dict):
        mime, data = source.get("media_type"), source.get("data")
        if not isinstance(mime, str) or not isinstance(data, str) or not data:
            raise InvalidRequest(
                f"{where}.source needs media_type and base64 data", param="messages"
            )
        if block.get("type") == "image" and mime not in IMAGE_TYPES:
            raise InvalidRequest(
                f"{where}.source.media_type must be one of {', '.join(IMAGE_TYPES)}",
                param="messages",
            )
        return {"inlineData": {"mimeType": mime, "data": data}}
    if kind == "text" and block.get("type") == "document" and isinstance(source, dict):
        data = source.get("data")
        if not isinstance(data, str):
            raise InvalidRequest(f"{where}.source.data must be a string", param="messages")
        return {"text": data}
    if kind == "url":
        # The handler inlines these first (see request.remote_images); one left here could not be.
        raise InvalidRequest(
            f"{where}: URL sources are not fetched by this gateway; send base64 data",
            param="messages",
        )
    raise InvalidRequest(
        f"{where}.source.type must be base64"
        + (" or text" if block.get("type") == "document" else ""),
        param="messages",
    )


def _tool_result(
    block: dict[str, Any], i: int, j: int, calls: dict[str, str]
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    where = f"messages.{i}.content.{j}"
    call_id = block.get("tool_use_id")
    if not isinstance(call_id, str) or call_id not in calls:
        raise InvalidRequest(
            f"{where}.tool_use_id {call_id!r} matches no earlier tool_use block", param="messages"
        )
    content = block.get("content")
    texts: list[str] = []
    extra: list[dict[str, Any]] = []
    if isinstance(content, str):
        texts.append(content)
    elif isinstance(content, list):
        for k, sub in enumerate(content):
            kind = sub.get("type") if isinstance(sub, dict) else None
            if kind == "text":
                texts.append(_text(sub, i, j)["text"])
            elif kind in ("image", "document"):
                # Images ride after the results in the same turn (works for both families).
                extra.append(media_part(sub, f"{where}.content.{k}"))
    elif content is not None:
        raise InvalidRequest(f"{where}.content must be a string or an array", param="messages")
    key = "error" if block.get("is_error") is True else "result"
    response = {
        "id": unpack_tool_use_id(call_id)[0],
        "name": calls[call_id],
        "response": {key: "\n".join(texts)},
    }
    return {"functionResponse": response}, extra


def _model_parts(
    blocks: list[Any],
    i: int,
    calls: dict[str, str],
    model: str,
    keep_thinking: bool,
    tool_name: Callable[[str], str],
    out: Converted,
) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = []
    claude = is_claude(model)
    carried: str | None = None  # a Gemini thinking block's signature, for the tool call it signed
    for j, block in enumerate(blocks):
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "text":
            part = _text(block, i, j)
            if part["text"].strip():
                parts.append(part)
        elif kind == "thinking":
            # Replayed to Claude only, and only with a Claude signature this gateway handed out;
            # Gemini needs no thought text back (its tool-call signatures ride in tool_use ids).
            signature = unwrap_thinking(block.get("signature"), model)
            text = block.get("thinking")
            if claude and keep_thinking and signature is not None and isinstance(text, str):
                parts.append({"text": text, "thought": True, "thoughtSignature": signature})
            else:
                out.dropped_thinking += 1
                if not claude and signature != SENTINEL:
                    carried = signature
        elif kind == "redacted_thinking":
            out.dropped_thinking += 1  # not ours to replay (CPA PR #2723)
        elif kind == "tool_use":
            part = _call(block, i, j, calls, claude, tool_name)
            if carried is not None and "thoughtSignature" not in part:
                # The thinking signed this tool call (a client rewrote the id that carried it).
                part["thoughtSignature"] = carried
            carried = None
            parts.append(part)
    return parts


def _call(
    block: dict[str, Any],
    i: int,
    j: int,
    calls: dict[str, str],
    claude: bool,
    tool_name: Callable[[str], str],
) -> dict[str, Any]:
    where = f"messages.{i}.content.{j}"
    name, args = block.get("name"), block.get("input", {})
    if not isinstance(name, str) or not name:
        raise InvalidRequest(f"{where}.name must be a non-empty string", param="messages")
    if not isinstance(args, dict):
        raise InvalidRequest(f"{where}.input must be an object", param="messages")
    if too_deep(args):
        raise InvalidRequest(f"{where}.input is nested too deeply", param="messages")
    client_id = block.get("id")
    if not isinstance(client_id, str) or not client_id:
        client_id = new_tool_use_id()
    base, signature = unpack_tool_use_id(client_id)
    declared = tool_name(name)
    calls[client_id] = declared
    part: dict[str, Any] = {"functionCall": {"id": base, "name": declared, "args": args}}
    if signature and not claude:
        part["thoughtSignature"] = signature
    return part
