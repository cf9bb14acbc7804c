"""One Gemini response (or stream chunk, already out of the Antigravity envelope) → typed events.

Every dialect renders the same few things — text, thoughts, signatures, tool calls, images, the
finish reason, usage — so the part-shape quirks (``thought_signature`` spelling, ``inline_data``,
missing candidates) are read once here. Runs per stream chunk: no copies beyond the events.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ag2api.translate.common import candidate_parts


@dataclass(frozen=True, slots=True)
class Text:
    text: str


@dataclass(frozen=True, slots=True)
class Thought:
    text: str


@dataclass(frozen=True, slots=True)
class Signature:
    """A ``thoughtSignature`` on a part that is not a call (Claude's trailing empty-text part)."""

    value: str


@dataclass(frozen=True, slots=True)
class ToolCall:
    name: str
    args: dict[str, Any]
    id: str | None
    signature: str | None


@dataclass(frozen=True, slots=True)
class Image:
    mime_type: str
    data: str  # base64


@dataclass(frozen=True, slots=True)
class Finish:
    reason: str  # the raw Gemini finishReason


@dataclass(frozen=True, slots=True)
class Usage:
    """``usageMetadata`` as sent (cumulative over a stream)."""

    prompt: int
    cached: int
    candidates: int
    thoughts: int
    total: int


@dataclass(frozen=True, slots=True)
class Blocked:
    reason: str  # promptFeedback.blockReason


Event = Text | Thought | Signature | ToolCall | Image | Finish | Usage | Blocked


def read(chunk: dict[str, Any]) -> list[Event]:
    """The events of one response/chunk, in part order, then finish, usage and block verdict."""
    out: list[Event] = []
    parts, reason = candidate_parts(chunk)
    for part in parts:
        if isinstance(part, dict):
            _read_part(part, out)
    if reason:
        out.append(Finish(reason))
    meta = chunk.get("usageMetadata")
    if isinstance(meta, dict):
        out.append(usage(meta))
    feedback = chunk.get("promptFeedback")
    if isinstance(feedback, dict) and feedback.get("blockReason"):
        out.append(Blocked(str(feedback["blockReason"])))
    return out


def _read_part(part: dict[str, Any], out: list[Event]) -> None:
    sig = part.get("thoughtSignature") or part.get("thought_signature")
    signature = sig if isinstance(sig, str) and sig else None
    call = part.get("functionCall") or part.get("function_call")
    if isinstance(call, dict):
        args = call.get("args")
        call_id = call.get("id")
        out.append(
            ToolCall(
                name=str(call.get("name") or ""),
                args=args if isinstance(args, dict) else {},
                id=call_id if isinstance(call_id, str) and call_id else None,
                signature=signature,
            )
        )
        return
    data = part.get("inlineData") or part.get("inline_data")
    if isinstance(data, dict):
        mime = data.get("mimeType") or data.get("mime_type") or "image/png"
        out.append(Image(str(mime), str(data.get("data") or "")))
    else:
        text = part.get("text")
        if isinstance(text, str) and text:
            out.append(Thought(text) if part.get("thought") else Text(text))
    # After the text so a signature closes the thought it came with.
    if signature is not None:
        out.append(Signature(signature))


def usage(meta: dict[str, Any]) -> Usage:
    return Usage(
        prompt=_int(meta.get("promptTokenCount")),
        cached=_int(meta.get("cachedContentTokenCount")),
        candidates=_int(meta.get("candidatesTokenCount")),
        thoughts=_int(meta.get("thoughtsTokenCount")),
        total=_int(meta.get("totalTokenCount")),
    )


def output_tokens(u: Usage) -> int:
    """Candidates + thoughts, unless the counts show candidates already include the thoughts."""
    if u.thoughts and u.total and u.prompt + u.candidates == u.total:
        return u.candidates
    return u.candidates + u.thoughts


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0
