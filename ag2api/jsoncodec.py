"""The JSON codec used on the hot path, in one place so it can be swapped and measured."""

from __future__ import annotations

import json
from typing import Any

_encoder = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), check_circular=False)
loads = json.loads


def dumps_bytes(value: Any) -> bytes:
    """Compact UTF-8 JSON."""
    return _encoder.encode(value).encode("utf-8")
