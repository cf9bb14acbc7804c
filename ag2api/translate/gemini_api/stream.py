"""How a Gemini API stream goes on the wire, and its elements.

``?alt=sse`` asks for server-sent events (``data:`` lines, as every dialect sends); without it a
stream is the JSON array Google's REST API sends, each element written as it comes. Either way
each upstream chunk is one element, rendered on its own (``render``): a Gemini stream chunk is a
whole response, so no state carries from one to the next.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ag2api.translate.dialect import SSE, Framing, SseEvent
from ag2api.translate.gemini.events import Reply
from ag2api.translate.gemini_api import render
from ag2api.translate.typed_args import ArgFix

JSON_ARRAY = Framing(
    "application/json; charset=utf-8",
    sse=False,
    opening=b"[",
    separator=b",\r\n",
    closing=b"]",
    keepalive=b"\n",
)


def framing(query: Mapping[str, Any]) -> Framing:
    return SSE if query.get("alt") == "sse" else JSON_ARRAY


def element(reply: Reply, fixes: dict[str, ArgFix]) -> SseEvent:
    """One upstream chunk as one stream element (a bare ``data:`` event or an array item)."""
    return None, render.response(reply.events, reply.meta, fixes)
