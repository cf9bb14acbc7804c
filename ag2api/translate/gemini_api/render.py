"""One Gemini API response (or stream chunk) rendered from the typed events and what the reply
says beyond them (``Reply.meta``): what the whole answer and every stream element share.

The parts come back in order — text, thoughts, calls, images, signatures where they sat, and
parts of other kinds as sent — with ``functionCall`` arguments restored where the gateway adapted
a tool's schema (Claude's placeholder property, enum members the backend takes only as strings).
Spellings are Google's own (``thoughtSignature``, ``functionCall``, ``inlineData``), whichever
the upstream used; a part's fields beyond its kind's are not kept.
"""

from __future__ import annotations

from typing import Any

from ag2api.translate.gemini.events import (
    Event,
    Finish,
    Image,
    OtherPart,
    ReplyMeta,
    Signature,
    Text,
    Thought,
    ToolCall,
    Usage,
)
from ag2api.translate.typed_args import ArgFix, restore_args


def response(events: list[Event], meta: ReplyMeta, fixes: dict[str, ArgFix]) -> dict[str, Any]:
    parts: list[dict[str, Any]] = []
    finish: str | None = None
    usage: Usage | None = None
    for event in events:
        if type(event) is Text:
            parts.append({"text": event.text})
        elif type(event) is Thought:
            parts.append({"text": event.text, "thought": True})
        elif type(event) is ToolCall:
            parts.append(call_part(event, fixes))
        elif type(event) is Signature:
            sign(parts, event)
        elif type(event) is Image:
            parts.append({"inlineData": {"mimeType": event.mime_type, "data": event.data}})
        elif type(event) is OtherPart:
            parts.append(dict(event.part))
        elif type(event) is Finish:
            finish = event.reason
        elif type(event) is Usage:
            usage = event
    out: dict[str, Any] = {}
    if meta.has_candidate:
        out["candidates"] = [candidate(parts, finish, meta), *meta.more_candidates]
    if meta.prompt_feedback is not None:
        out["promptFeedback"] = meta.prompt_feedback
    if usage is not None:
        out["usageMetadata"] = dict(usage.metadata)
    if meta.model_version is not None:
        out["modelVersion"] = meta.model_version
    if meta.response_id is not None:
        out["responseId"] = meta.response_id
    if meta.create_time is not None:
        out["createTime"] = meta.create_time
    out.update(meta.response_extra)
    return out


def candidate(parts: list[dict[str, Any]], finish: str | None, meta: ReplyMeta) -> dict[str, Any]:
    out: dict[str, Any] = {"content": {"role": "model", "parts": parts}}
    if finish is not None:
        out["finishReason"] = finish
    if meta.finish_message is not None:
        out["finishMessage"] = meta.finish_message
    if meta.safety_ratings is not None:
        out["safetyRatings"] = meta.safety_ratings
    if meta.citations is not None:
        out["citationMetadata"] = meta.citations
    if meta.grounding is not None:
        out["groundingMetadata"] = meta.grounding
    out.update(meta.candidate_extra)
    return out


def call_part(tool_call: ToolCall, fixes: dict[str, ArgFix]) -> dict[str, Any]:
    args = restore_args(fixes, tool_call.name, tool_call.args) if fixes else tool_call.args
    function: dict[str, Any] = {"name": tool_call.name, "args": args}
    if tool_call.id is not None:
        function["id"] = tool_call.id
    part: dict[str, Any] = {"functionCall": function}
    if tool_call.signature is not None:
        part["thoughtSignature"] = tool_call.signature
    return part


def sign(parts: list[dict[str, Any]], signature: Signature) -> None:
    """Put ``signature`` where it sat: on the part before it, or in a part of its own."""
    if signature.own_part or not parts:
        part: dict[str, Any] = {"text": ""}
        if signature.thought:
            part["thought"] = True
        part["thoughtSignature"] = signature.value
        parts.append(part)
    else:
        parts[-1].pop("thought_signature", None)
        parts[-1]["thoughtSignature"] = signature.value
