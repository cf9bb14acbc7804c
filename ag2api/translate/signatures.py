"""Thought signatures across the OpenAI round trip, which has no field for them.

Gemini 3 rejects a replayed ``functionCall`` without the ``thoughtSignature`` it was issued with
(protocol §7.3). The gateway therefore puts the signature *inside the tool-call id it issues*:
``call_<12 hex>~<signature as unpadded base64url>``. Whatever the client echoes back carries the
real signature again — across a gateway restart or another replica, with no shared state. Claude
keeps its own ``toolu_…`` ids; its thinking block (text + signature) is remembered per call id in
:class:`SignatureCache` and replayed before the calls, since Claude rejects foreign signatures.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections import OrderedDict
from dataclasses import dataclass

SEPARATOR = "~"
# The backend accepts this for Gemini when the real signature is unknown (protocol §7.3).
SENTINEL = "skip_thought_signature_validator"
_B64URL = re.compile(r"^[A-Za-z0-9_-]+$")


def encode_call_id(base: str, signature: str | None) -> str:
    if not signature:
        return base
    try:
        raw = base64.b64decode(signature, validate=True)
    except (binascii.Error, ValueError):
        raw = signature.encode("utf-8")  # not base64: carry the text itself, still recoverable
        return f"{base}{SEPARATOR}t{base64.urlsafe_b64encode(raw).rstrip(b'=').decode()}"
    return f"{base}{SEPARATOR}{base64.urlsafe_b64encode(raw).rstrip(b'=').decode()}"


def decode_call_id(call_id: str) -> tuple[str, str | None]:
    """(the short id, the signature it carries or None)."""
    base, sep, packed = call_id.partition(SEPARATOR)
    if not sep or not packed:
        return call_id, None
    text = packed.startswith("t")
    body = packed[1:] if text else packed
    if not _B64URL.match(body):
        return call_id, None
    try:
        raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    except (binascii.Error, ValueError):
        return call_id, None
    if text:
        return base, raw.decode("utf-8", "replace")
    return base, base64.b64encode(raw).decode()


@dataclass(frozen=True)
class ThinkingRecord:
    """A Claude thinking block to replay before the tool calls it led to."""

    text: str
    signature: str


class SignatureCache:
    """Bounded in-memory map: Claude tool-call id → the thinking block that preceded it."""

    def __init__(self, capacity: int = 20_000) -> None:
        self._items: OrderedDict[str, ThinkingRecord] = OrderedDict()
        self._capacity = capacity

    def remember(self, call_id: str, record: ThinkingRecord) -> None:
        self._items[call_id] = record
        self._items.move_to_end(call_id)
        while len(self._items) > self._capacity:
            self._items.popitem(last=False)

    def get(self, call_id: str) -> ThinkingRecord | None:
        return self._items.get(call_id)

    def __len__(self) -> int:
        return len(self._items)
