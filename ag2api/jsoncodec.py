"""The JSON codec used on the hot path, in one place so it can be swapped and measured.

orjson when it is installed (it is a dependency): about 4x faster to parse an upstream event and
10x faster to serialise a chunk than the standard library (scripts/bench.py,
docs/performance.md). The standard library stays as the fallback and gives the same compact output.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

_encoder = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), check_circular=False)


def stdlib_dumps_bytes(value: Any) -> bytes:
    """Compact UTF-8 JSON with the standard library."""
    return _encoder.encode(value).encode("utf-8")


stdlib_loads = json.loads

loads: Callable[[bytes | str], Any]
dumps_bytes: Callable[[Any], bytes]
try:
    import orjson
except ImportError:  # pragma: no cover - exercised by tests through the stdlib_* names
    BACKEND = "json"
    loads = stdlib_loads
    dumps_bytes = stdlib_dumps_bytes
else:
    BACKEND = "orjson"
    loads = orjson.loads
    dumps_bytes = orjson.dumps
