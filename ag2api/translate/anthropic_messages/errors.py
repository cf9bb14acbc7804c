"""Gateway errors in Anthropic's shape, before the first byte (HTTP) and mid-stream (SSE).

``{"type": "error", "error": {"type": T, "message": M}}`` with T by status
(docs/clients/claude-code.md, "Errors"). Capacity
and pool exhaustion become 529 ``overloaded_error``, which Claude Code retries only 3 times.
Claude's own rejections come back from Antigravity as a JSON string inside the Google error
message; :func:`unwrap_claude_error` recovers that body so it can be returned verbatim — Claude
Code's built-in recovery (e.g. stripping thinking after "Invalid `signature`") matches its wording.
"""

from __future__ import annotations

import json
from typing import Any

from ag2api.errors import UPSTREAM_REJECTED, GatewayError

TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    504: "timeout_error",
    529: "overloaded_error",
}
OVERLOADED = 529
# Gateway error kinds that mean "no capacity right now" rather than a failure.
CAPACITY_KINDS = frozenset({"server_busy", "no_available_account", "capacity_exhausted"})
_CAPACITY_WORDS = ("MODEL_CAPACITY_EXHAUSTED", "No capacity available")


def status(err: GatewayError) -> int:
    if err.kind in CAPACITY_KINDS or (
        err.status in (502, 503) and any(w in err.message for w in _CAPACITY_WORDS)
    ):
        return OVERLOADED
    return err.status


def error_type(status: int) -> str:
    if status in TYPES:
        return TYPES[status]
    return "invalid_request_error" if 400 <= status < 500 else "api_error"


def body(err: GatewayError) -> dict[str, Any]:
    inner = unwrap_claude_error(err.message) if err.status == 400 else None
    if inner is not None:
        return inner
    message = err.message
    if err.kind == "upstream_rejected_request":
        # The upstream's (for Claude: Claude's own, already out of Google's envelope) wording.
        message = message.removeprefix(UPSTREAM_REJECTED)
    return {"type": "error", "error": {"type": error_type(status(err)), "message": message}}


def stream_error(err: GatewayError) -> tuple[str, dict[str, Any]]:
    """The ``event: error`` sent once a stream has started (no ``message_stop`` follows)."""
    return "error", body(err)


def unwrap_claude_error(message: str) -> dict[str, Any] | None:
    """The Anthropic error body embedded in an upstream error message, or None.

    Accepts the Google message itself (``{"type":"error","error":{…},"request_id":…}``), a
    message with a prefix before it (the gateway's "Upstream rejected the request: …"), or a
    whole Google error body whose ``error.message`` holds it.
    """
    start = message.find("{")
    if start < 0:
        return None
    try:
        value = json.JSONDecoder().raw_decode(message, start)[0]
    except ValueError:
        return None
    if isinstance(value, dict) and isinstance(value.get("error"), dict):
        inner = value["error"]
        if value.get("type") == "error":
            if isinstance(inner.get("type"), str) and isinstance(inner.get("message"), str):
                return value
            return None
        nested = inner.get("message")
        if isinstance(nested, str) and nested is not message:
            return unwrap_claude_error(nested) if "{" in nested else None
    return None
