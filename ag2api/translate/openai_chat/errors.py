"""Gateway errors in OpenAI's shape: ``{"error": {"message", "type", "param", "code"}}`` before
the first byte, the same object as a ``data:`` event after it (the SDKs raise on it)."""

from __future__ import annotations

from typing import Any

from ag2api.errors import GatewayError
from ag2api.translate.dialect import SseEvent


def status(err: GatewayError) -> int:
    return err.status


def body(err: GatewayError) -> dict[str, Any]:
    return err.to_openai()


def stream_error(err: GatewayError) -> SseEvent:
    return None, err.to_openai()
