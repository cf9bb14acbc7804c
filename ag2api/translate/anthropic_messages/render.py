"""Shared rendering rules of the non-stream and stream answers: stop reason, usage, blocks."""

from __future__ import annotations

import json
from typing import Any

from ag2api.models.families import SENTINEL, is_claude
from ag2api.translate.anthropic_messages.request import RequestInfo
from ag2api.translate.anthropic_messages.signatures import (
    new_tool_use_id,
    pack_tool_use_id,
    wrap_thinking,
)
from ag2api.translate.gemini.events import (
    CONTENT_FILTER_REASONS,
    Image,
    ToolCall,
    Usage,
    output_tokens,
)
from ag2api.translate.typed_args import restore_args


def stop_reason(finish: str | None, *, saw_tool_use: bool, blocked: bool) -> str:
    """Gemini's finishReason → Anthropic's ``stop_reason``.

    Gemini reports a hit stop sequence as plain ``STOP``, so ``stop_sequence`` cannot be told
    apart from ``end_turn`` and is never produced.
    """
    if blocked or finish in CONTENT_FILTER_REASONS:
        return "refusal"
    if saw_tool_use:
        return "tool_use"
    if finish == "MAX_TOKENS":
        return "max_tokens"
    return "end_turn"


def usage(u: Usage | None) -> dict[str, int]:
    """Anthropic usage: uncached input, cache reads, no cache writes, output incl. thinking."""
    if u is None:
        u = Usage(0, 0, 0, 0, 0)
    cached = min(u.cached, u.prompt)
    return {
        "input_tokens": u.prompt - cached,
        "output_tokens": output_tokens(u),
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": cached,
    }


def tool_use_block(tool_call: ToolCall, info: RequestInfo) -> dict[str, Any]:
    """Claude keeps its ``toolu_`` id; a Gemini tool call's signature is packed into the id."""
    if is_claude(info.model):
        call_id = tool_call.id or new_tool_use_id()
    else:
        call_id = pack_tool_use_id(new_tool_use_id(), tool_call.signature)
    return {
        "type": "tool_use",
        "id": call_id,
        "name": info.tool_names.get(tool_call.name, tool_call.name),
        "input": restore_args(info.arg_fixes, tool_call.name, tool_call.args),
    }


def thinking_signature(model: str, upstream: str | None) -> str:
    """What the client gets as the block's signature: the upstream's, in the family's wrapping.

    Gemini signs a turn on its first tool call (or on no part at all): its thinking then carries
    the tool call's signature, or the backend's own "unsigned" sentinel — never an empty
    signature, which clients take for thinking to drop. Claude signs every block; one it did not
    ("") is kept from being replayed to it.
    """
    if upstream:
        return wrap_thinking(model, upstream)
    return "" if is_claude(model) else wrap_thinking(model, SENTINEL)


def image_markdown(image: Image) -> str:
    """Anthropic has no image output block: the image goes as a data-URL markdown text."""
    return f"![image](data:{image.mime_type};base64,{image.data})"


def input_json(value: dict[str, Any]) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
