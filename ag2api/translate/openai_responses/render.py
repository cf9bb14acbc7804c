"""What the stream and the whole response render alike: ids and the usage object."""

from __future__ import annotations

from typing import Any

from ag2api.ids import random_hex
from ag2api.translate.gemini.events import Usage, output_tokens


def new_id(prefix: str) -> str:
    return f"{prefix}_{random_hex(24)}"


def usage_object(u: Usage | None) -> dict[str, Any]:
    u = u or Usage(0, 0, 0, 0, 0)
    out = output_tokens(u)
    return {
        "input_tokens": u.prompt,
        "input_tokens_details": {"cached_tokens": u.cached, "cache_write_tokens": 0},
        "output_tokens": out,
        "output_tokens_details": {"reasoning_tokens": u.thoughts},
        "total_tokens": u.prompt + out,
    }
