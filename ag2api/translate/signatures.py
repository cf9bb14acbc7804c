"""Thought signatures across the OpenAI round trip, which has no field for them.

Gemini 3 rejects a replayed ``functionCall`` without the ``thoughtSignature`` it was issued with
(docs/protocol.md §7.3). The gateway therefore puts the signature *inside the tool-call id it
issues*: ``call_<hex>~~<signature bytes as unpadded base64url>`` (``~.`` + the UTF-8 text when the
signature is not base64). ``~`` and ``.`` are outside the base64url alphabet, so the kind of payload
is never guessed. Whatever the client echoes back carries the real signature again — across a
gateway restart or another replica, with no shared state. Two other forms also decode
(:func:`_legacy`): ``~<payload>`` for base64 and ``~t<payload>`` for text, ambiguous for a payload
starting with ``t``. Claude keeps its own ``toolu_…`` ids; its thinking block (text + signature) is
remembered per tool-call id in :class:`SignatureCache` and replayed before the tool calls, since
Claude rejects foreign signatures.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections import OrderedDict
from dataclasses import dataclass

from ag2api.ids import random_hex

SEPARATOR = "~"
BINARY = SEPARATOR + "~"  # the payload is the signature's bytes
TEXT = SEPARATOR + "."  # the payload is the signature's UTF-8 text (it was not base64)
_B64URL = re.compile(r"^[A-Za-z0-9_-]+$")


def new_tool_call_id() -> str:
    return f"call_{random_hex(24)}"


def pack_signature(base: str, signature: str | None, *, binary: str, text: str) -> str:
    """``base`` carrying ``signature``: ``base + binary`` + its bytes as unpadded base64url, or
    ``base + text`` + its UTF-8 text so encoded when it is not base64; ``base`` alone without
    one. Each dialect picks markers its ids may hold (:func:`encode_call_id`, and the Anthropic
    path's ``tool_use`` ids)."""
    if not signature:
        return base
    try:
        raw = base64.b64decode(signature, validate=True)
    except (binascii.Error, ValueError):
        return base + text + b64url(signature.encode("utf-8"))
    return base + binary + b64url(raw)


def encode_call_id(base: str, signature: str | None) -> str:
    return pack_signature(base, signature, binary=BINARY, text=TEXT)


def decode_call_id(call_id: str) -> tuple[str, str | None]:
    """(the short id, the signature it carries or None)."""
    base, sep, packed = call_id.partition(SEPARATOR)
    if not sep or not packed:
        return call_id, None
    if packed[0] in "~.":
        raw = unb64url(packed[1:])
        if raw is None:
            return call_id, None
        if packed[0] == ".":
            return base, raw.decode("utf-8", "replace")
        return base, base64.b64encode(raw).decode()
    signature = _legacy(packed)
    return (base, signature) if signature is not None else (call_id, None)


def _legacy(packed: str) -> str | None:
    """An id of the first form: ``<bytes>`` or ``t<text>``, both unpadded base64url.

    A leading ``t`` is read as the text form only when that reading is consistent: the length
    fits, the text is UTF-8, and it is not base64 (base64 text was always packed as bytes).
    Anything else is the bytes form — real Gemini signatures are base64, so that is the rule.
    """
    if packed.startswith("t"):
        raw = unb64url(packed[1:])
        if raw is not None:
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                text = None
            if text is not None and not _is_base64(text):
                return text
    raw = unb64url(packed)
    return None if raw is None else base64.b64encode(raw).decode()


def _is_base64(text: str) -> bool:
    try:
        base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return False
    return True


def b64url(raw: bytes) -> str:
    """Unpadded base64url."""
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def unb64url(body: str) -> bytes | None:
    """The bytes of unpadded base64url ``body``, or None when it is not that."""
    if not _B64URL.match(body) or len(body) % 4 == 1:
        return None
    try:
        return base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    except (binascii.Error, ValueError):
        return None


def thinking_key(signature: str) -> str:
    """The record key of a Claude thinking block by its signature, for clients that replay the
    signature alone (Gemini CLI drops thought parts): the same for either base64 alphabet and
    with or without padding (google-genai sends back the URL-safe one)."""
    canonical = signature.rstrip("=").replace("-", "+").replace("_", "/")
    return "sig:" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:40]


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
