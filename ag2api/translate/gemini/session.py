"""The upstream ``sessionId``: a stable negative int64, as the IDE keys its sessions."""

from __future__ import annotations

import hashlib
from typing import Any


def session_id(contents: list[dict[str, Any]], key: Any = None) -> str:
    """From ``key`` when the client names its conversation (a non-empty string), else from the
    first user text — so every turn of one conversation lands in the same upstream session."""
    if not (isinstance(key, str) and key):
        key = ""
        for turn in contents:
            if turn.get("role") == "user":
                key = next((p["text"] for p in turn["parts"] if "text" in p), "")
                if key:
                    break
    digest = hashlib.sha256(key.encode("utf-8")).digest()
    return "-" + str(int.from_bytes(digest[:8], "big") & 0x7FFF_FFFF_FFFF_FFFF)
