"""What a ``reasoning`` item's ``encrypted_content`` carries: the next turn's signatures.

Codex sends ``store: false`` and replays every output item verbatim, including ``reasoning`` items
with ``encrypted_content`` (docs/clients/recorded-requests.md, fact 5). That field is therefore
where the gateway keeps what the upstream needs back, with no server state — a restart or another
replica reads the same thing:

* Claude's signed thinking (the text and its signature; Claude rejects a tool loop without it);
* Gemini 3's per-tool-call ``thoughtSignature`` s, keyed by the ``call_id`` handed out.

Format: ``ag2r:<family>:<unpadded base64url of a small JSON object>``. Like the Anthropic path's
``ag2:<family>:`` signatures, only a carrier of the target's family is used; a foreign one (a
model switch mid-conversation) or anything not made here (OpenAI's own blobs) is ignored, never
forged into a signature.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field
from typing import Any

from ag2api.translate.anthropic_messages.signatures import family

PREFIX = "ag2r:"
MAX_CARRIER = 4 * 1024 * 1024  # a larger blob is not ours: ignored without decoding


@dataclass
class Carried:
    """What one reasoning item holds for the upstream."""

    thinking: str = ""  # Claude: the thought text the signature signs
    signature: str | None = None  # Claude: the thinking signature
    calls: dict[str, str] = field(default_factory=dict)  # Gemini: call_id → thoughtSignature

    def empty(self) -> bool:
        return self.signature is None and not self.calls


def pack(model: str, carried: Carried) -> str:
    doc: dict[str, Any] = {}
    if carried.signature is not None:
        doc["t"] = carried.thinking
        doc["s"] = carried.signature
    if carried.calls:
        doc["c"] = carried.calls
    raw = json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return f"{PREFIX}{family(model)}:{base64.urlsafe_b64encode(raw).rstrip(b'=').decode()}"


def unpack(value: Any, model: str) -> Carried | None:
    """The carried state when ``value`` is a carrier of ``model``'s family, else None."""
    head = f"{PREFIX}{family(model)}:"
    if not isinstance(value, str) or not value.startswith(head) or len(value) > MAX_CARRIER:
        return None
    body = value[len(head) :]
    try:
        doc = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    except (binascii.Error, ValueError):
        return None
    if not isinstance(doc, dict):
        return None
    out = Carried()
    signature, thinking = doc.get("s"), doc.get("t")
    if isinstance(signature, str) and signature and isinstance(thinking, str):
        out.thinking, out.signature = thinking, signature
    calls = doc.get("c")
    if isinstance(calls, dict):
        out.calls = {k: v for k, v in calls.items() if isinstance(v, str) and v}
    return out
