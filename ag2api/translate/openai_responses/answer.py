"""The Responses answer the completion handler drives (``translate.dialect.Answer``): one state
machine (``stream``) for the streamed events and the whole response alike, and the compaction
object of ``/v1/responses/compact``."""

from __future__ import annotations

from typing import Any

from ag2api.errors import GatewayError
from ag2api.translate.dialect import SseEvent, TranslationContext, openai_usage
from ag2api.translate.gemini.events import Reply
from ag2api.translate.openai_responses import compaction, errors
from ag2api.translate.openai_responses.render import new_id
from ag2api.translate.openai_responses.request import RequestInfo
from ag2api.translate.openai_responses.stream import CompactionStream, ResponsesStream
from ag2api.translate.signatures import ThinkingRecord

# Request fields echoed in the response object (what the SDK's Response model expects there).
_ECHO = (
    "instructions",
    "max_output_tokens",
    "previous_response_id",
    "prompt_cache_key",
    "reasoning",
    "safety_identifier",
    "service_tier",
    "temperature",
    "top_p",
    "user",
)


def shell(body: dict[str, Any], ctx: TranslationContext) -> dict[str, Any]:
    """The response object's fields that do not change while it is produced."""
    out: dict[str, Any] = {
        "id": new_id("resp"),
        "object": "response",
        "created_at": ctx.created,
        "model": ctx.name,
        "error": None,
        "incomplete_details": None,
        "metadata": body.get("metadata") or {},
        "parallel_tool_calls": body.get("parallel_tool_calls", True) is not False,
        "tool_choice": body.get("tool_choice") or "auto",
        "tools": body.get("tools") or [],
        "text": body.get("text") or {"format": {"type": "text"}},
        "truncation": body.get("truncation") or "disabled",
        "store": body.get("store", True) is not False,
        "background": False,
    }
    for key in _ECHO:
        out[key] = body.get(key)
    return out


class ResponsesAnswer:
    """The response (or its events) for one request; ``final`` once it is complete."""

    __slots__ = ("_stream",)

    def __init__(self, response: dict[str, Any], info: RequestInfo) -> None:
        machine = CompactionStream if info.compaction else ResponsesStream
        self._stream = machine(response, info)

    @property
    def final(self) -> dict[str, Any] | None:
        return self._stream.final

    def feed(self, reply: Reply) -> list[SseEvent]:
        return self._stream.feed(reply.events)

    def finish(self) -> list[SseEvent]:
        return self._stream.finish()

    def fail(self, error: GatewayError) -> list[SseEvent]:
        return self._stream.fail(errors.failure(error))

    def whole(self, reply: Reply) -> dict[str, Any]:
        self._stream.feed(reply.events)
        self._stream.finish()
        final = self._stream.final
        assert final is not None
        return final

    def usage(self) -> dict[str, Any]:
        """OpenAI chat-shaped usage (the log, metrics and statistics speak it for every dialect)."""
        return openai_usage(self._stream.usage)

    def thinking_records(self) -> dict[str, ThinkingRecord]:
        return {}  # stateless: signatures ride in reasoning items' encrypted_content


class CompactAnswer(ResponsesAnswer):
    """``/v1/responses/compact``: the compaction object — the input's user messages, then one
    ``compaction`` item (non-stream only, as with OpenAI)."""

    __slots__ = ("_kept",)

    def __init__(
        self, response: dict[str, Any], info: RequestInfo, kept: list[dict[str, Any]]
    ) -> None:
        super().__init__(response, info)
        self._kept = kept

    def whole(self, reply: Reply) -> dict[str, Any]:
        final = super().whole(reply)
        if final["status"] != "completed":
            raise GatewayError(compaction.NO_SUMMARY, kind="upstream_error")
        return {
            "id": final["id"],
            "object": "response.compaction",
            "created_at": final["created_at"],
            "output": [*self._kept, *final["output"]],
            "usage": final["usage"],
        }


def user_messages(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The input's user messages, as the compaction object carries them before its summary."""
    return [_user_message(i) for i in items if _is_user_message(i)]


def _is_user_message(item: dict[str, Any]) -> bool:
    return (item.get("type") or "message") == "message" and item.get("role") == "user"


def _user_message(item: dict[str, Any]) -> dict[str, Any]:
    content = item.get("content")
    if isinstance(content, str):
        content = [{"type": "input_text", "text": content}]
    return {
        "id": new_id("msg"),
        "type": "message",
        "status": "completed",
        "role": "user",
        "content": content,
    }
