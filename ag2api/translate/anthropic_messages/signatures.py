"""Thought signatures on the Anthropic round trip, checkable from the request alone.

Claude Code replays ``thinking`` blocks (text + ``signature``) and ``tool_use`` ids verbatim, so
both carry what the next turn needs, with no server state (a restart or another replica sees
the same thing):

* a thinking block's signature is ``ag2:<family>:<upstream signature>``; on the way back only
  blocks of the target's family are kept (a ``/model`` switch or a direct-Anthropic session
  leaves foreign or prefix-less ones, which are dropped — never forged);
* a Gemini tool call's own ``thoughtSignature`` rides in the ``tool_use`` id:
  ``toolu_<24 hex>_ag2b_<unpadded base64url>`` (``_ag2t_`` when the signature is not base64).
  Unlike the OpenAI path's ``~`` separator, this keeps ids inside Anthropic's
  ``^[a-zA-Z0-9_-]+$`` so a history stays valid if the client later talks to Anthropic itself.
"""

from __future__ import annotations

import base64

from ag2api.ids import random_hex
from ag2api.models.families import is_claude
from ag2api.translate.signatures import pack_signature, unb64url

PREFIX = "ag2:"
_BASE64 = "_ag2b_"
_TEXT = "_ag2t_"


def family(model: str) -> str:
    """Signatures are only valid within a family: Claude's are not Gemini's, and vice versa."""
    return "claude" if is_claude(model) else "gemini"


def wrap_thinking(model: str, upstream: str) -> str:
    return f"{PREFIX}{family(model)}:{upstream}"


def unwrap_thinking(signature: object, model: str) -> str | None:
    """The upstream signature when ``signature`` is ours and of ``model``'s family, else None."""
    if not isinstance(signature, str):
        return None
    head = f"{PREFIX}{family(model)}:"
    if not signature.startswith(head) or len(signature) == len(head):
        return None
    return signature[len(head) :]


def new_tool_use_id() -> str:
    return f"toolu_{random_hex(24)}"


def pack_tool_use_id(base: str, signature: str | None) -> str:
    return pack_signature(base, signature, binary=_BASE64, text=_TEXT)


def unpack_tool_use_id(tool_use_id: str) -> tuple[str, str | None]:
    """(the id to send upstream, the Gemini signature it carries or None)."""
    # The first marker wins: base64url payloads may themselves contain either marker.
    found = [(i, m) for m in (_BASE64, _TEXT) if (i := tool_use_id.find(m)) > 0]
    if not found:
        return tool_use_id, None
    at, marker = min(found)
    base, packed = tool_use_id[:at], tool_use_id[at + len(marker) :]
    raw = unb64url(packed)
    if raw is None:
        return tool_use_id, None
    if marker == _TEXT:
        return base, raw.decode("utf-8", "replace")
    return base, base64.b64encode(raw).decode()
