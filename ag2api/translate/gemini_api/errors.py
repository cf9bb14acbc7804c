"""Gateway errors in Google's shape: ``{"error": {"code", "message", "status", "details"}}``.

The HTTP status is the gateway's own; ``status`` is the google.rpc code name clients branch on
(Gemini CLI retries RESOURCE_EXHAUSTED/UNAVAILABLE). ``details`` carry an ``ErrorInfo`` (the
gateway's error kind as reason), a ``BadRequest`` naming the field, and on 429/503 a ``RetryInfo``
whose ``retryDelay`` is the pool's earliest recovery — Gemini CLI waits that long before retrying.
"""

from __future__ import annotations

from typing import Any

from ag2api.errors import GatewayError

RPC_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    405: "UNIMPLEMENTED",
    409: "ABORTED",
    413: "INVALID_ARGUMENT",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    500: "INTERNAL",
    501: "UNIMPLEMENTED",
    502: "UNAVAILABLE",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
_TYPE = "type.googleapis.com/google.rpc."


def rpc_status(status: int) -> str:
    if status in RPC_STATUS:
        return RPC_STATUS[status]
    return "FAILED_PRECONDITION" if 400 <= status < 500 else "UNKNOWN"


def duration(seconds: float) -> str:
    """A protobuf Duration string: ``"39s"``, ``"0.479s"``."""
    seconds = max(0.0, seconds)
    if seconds == int(seconds):
        return f"{int(seconds)}s"
    return f"{seconds:.3f}".rstrip("0") + "s"


def body(err: GatewayError) -> dict[str, Any]:
    details: list[dict[str, Any]] = [
        {"@type": _TYPE + "ErrorInfo", "reason": err.kind.upper(), "domain": "ag2api"}
    ]
    if err.param:
        details.append(
            {
                "@type": _TYPE + "BadRequest",
                "fieldViolations": [{"field": err.param, "description": err.message}],
            }
        )
    if err.retry_after is not None:
        details.append({"@type": _TYPE + "RetryInfo", "retryDelay": duration(err.retry_after)})
    return {
        "error": {
            "code": err.status,
            "message": err.message,
            "status": err.spec.google_status or rpc_status(err.status),
            "details": details,
        }
    }


def status(err: GatewayError) -> int:
    return err.status


def stream_error(err: GatewayError) -> tuple[None, dict[str, Any]]:
    """The error once a stream has started: one more element (``data:`` event or array item)
    holding the error body — google-genai raises on a chunk that starts with ``{"error":``."""
    return None, body(err)
