"""Gateway errors on ``/v1/responses``: OpenAI's JSON before the first byte, ``response.failed``
after it, with the ``error.code`` Codex classifies (docs/clients/codex.md, "What Codex needs from
the stream"): ``rate_limit_exceeded``
(retried after the delay it reads from "try again in N s"), ``context_length_exceeded``,
``insufficient_quota``, ``server_is_overloaded``, and ``server_error`` for the rest."""

from __future__ import annotations

import math
import re
from typing import Any

from ag2api.errors import GatewayError

# How the backend words a prompt over the model's context window (Gemini and Claude).
_CONTEXT = re.compile(
    r"input token count .* exceeds|exceeds the maximum number of tokens|prompt is too long"
    r"|context length|context window",
    re.I,
)
_OVERLOADED = ("server_busy", "capacity_exhausted")


def code_of(err: GatewayError) -> str:
    if err.kind == "rate_limit_exceeded":
        return "rate_limit_exceeded"
    if _CONTEXT.search(err.message):
        return "context_length_exceeded"
    if err.kind in ("no_available_account", "no_usable_account"):
        return "insufficient_quota"
    if err.kind in _OVERLOADED or "MODEL_CAPACITY_EXHAUSTED" in err.message:
        return "server_is_overloaded"
    return "server_error"


def failure(err: GatewayError) -> dict[str, Any]:
    """The ``error`` of a ``response.failed`` event."""
    code = code_of(err)
    message = err.message
    if code == "rate_limit_exceeded":
        wait = max(1, math.ceil(err.retry_after or 1.0))
        message = f"{message} Please try again in {wait}s."
    return {"code": code, "message": message}


def status(err: GatewayError) -> int:
    return err.status


def body(err: GatewayError) -> dict[str, Any]:
    """The JSON error answer before the first byte (OpenAI's shape, Codex's codes)."""
    out = err.to_openai()
    if err.status == 400 and _CONTEXT.search(err.message):
        out["error"]["code"] = "context_length_exceeded"
    return out


def stream_error(err: GatewayError) -> tuple[str, dict[str, Any]]:
    """A bare ``error`` event, for a stream whose answer state is unknown (the handler prefers
    the answer's own ``response.failed``, which carries the response id and sequence)."""
    return "error", {"type": "error", **failure(err), "param": err.param, "sequence_number": 0}
