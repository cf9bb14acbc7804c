"""The OpenAI Responses API as a dialect entry: ``/v1/responses`` (Codex CLI, the OpenAI SDKs'
``responses.*``, openai-agents)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from ag2api.errors import GatewayError, InvalidRequest
from ag2api.models.families import is_image_model
from ag2api.translate.dialect import (
    Answer,
    CallContext,
    ClientCall,
    Dialect,
    Memory,
    RouteInfo,
    SseEvent,
    Translation,
    stream_flag,
)
from ag2api.translate.gemini import events as gemini
from ag2api.translate.openai_responses import compaction, errors, memory
from ag2api.translate.openai_responses.items import as_items
from ag2api.translate.openai_responses.request import RequestInfo, remote_images, to_gemini
from ag2api.translate.openai_responses.stream import CompactionStream, ResponsesStream, new_id
from ag2api.translate.openai_usage import openai_usage
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


def read(body: dict[str, Any], route: RouteInfo) -> ClientCall:
    stream = stream_flag(body, route.default_stream)
    for key, kind in (("store", bool), ("metadata", dict), ("include", list)):
        value = body.get(key)
        if value is not None and not isinstance(value, kind):
            raise InvalidRequest(f"'{key}' has the wrong type", param=key)
    return ClientCall(body.get("model"), stream)


def shell(body: dict[str, Any], ctx: CallContext) -> dict[str, Any]:
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

    def feed(self, chunk: dict[str, Any]) -> list[SseEvent]:
        return self._stream.feed(gemini.read(chunk))

    def finish(self) -> list[SseEvent]:
        return self._stream.finish()

    def fail(self, error: GatewayError) -> list[SseEvent]:
        return self._stream.fail(errors.failure(error))

    def whole(self, response: dict[str, Any]) -> dict[str, Any]:
        self._stream.feed(gemini.read(response))
        self._stream.finish()
        final = self._stream.final
        assert final is not None
        return final

    def usage(self) -> dict[str, Any]:
        """OpenAI chat-shaped usage (the log, metrics and statistics speak it for every dialect)."""
        return openai_usage(self._stream.usage)

    def thinking_records(self) -> dict[str, ThinkingRecord]:
        return {}  # stateless: signatures ride in reasoning items' encrypted_content


def translate(body: dict[str, Any], ctx: CallContext) -> Translation:
    request, info = to_gemini(body, model=ctx.model, thinking_default=ctx.thinking)
    answer = ResponsesAnswer(shell(body, ctx), info)
    return Translation(request, is_image_model(ctx.model), answer)


def stream_error(answer: Answer, error: GatewayError) -> list[SseEvent]:
    if isinstance(answer, ResponsesAnswer):
        return answer.fail(error)
    return [errors.stream_error(error)]


def keep(body: dict[str, Any], answer: Answer) -> tuple[str, dict[str, Any]] | None:
    return memory.keep(body, answer) if isinstance(answer, ResponsesAnswer) else None


# -- POST /v1/responses/compact (remote compaction v1: Codex for a provider named "OpenAI") -----


class CompactAnswer(ResponsesAnswer):
    """``/v1/responses/compact``: the compaction object — the input's user messages, then one
    ``compaction`` item (non-stream only, as with OpenAI)."""

    __slots__ = ("_kept",)

    def __init__(
        self, response: dict[str, Any], info: RequestInfo, kept: list[dict[str, Any]]
    ) -> None:
        super().__init__(response, info)
        self._kept = kept

    def whole(self, response: dict[str, Any]) -> dict[str, Any]:
        final = super().whole(response)
        if final["status"] != "completed":
            raise GatewayError(compaction.NO_SUMMARY, kind="upstream_error")
        return {
            "id": final["id"],
            "object": "response.compaction",
            "created_at": final["created_at"],
            "output": [*self._kept, *final["output"]],
            "usage": final["usage"],
        }


def read_compact(body: dict[str, Any], route: RouteInfo) -> ClientCall:
    if body.get("stream") is True:
        raise InvalidRequest("Streaming is not supported for compact responses", param="stream")
    return ClientCall(read(body, route).model, False)


def translate_compact(body: dict[str, Any], ctx: CallContext) -> Translation:
    items = as_items(body.get("input"))
    asked = {**body, "input": [*items, {"type": compaction.TRIGGER}]}
    request, info = to_gemini(asked, model=ctx.model, thinking_default=ctx.thinking)
    kept = [_user_message(i) for i in items if _is_user_message(i)]
    answer = CompactAnswer(shell(body, ctx), info, kept)
    return Translation(request, is_image_model(ctx.model), answer)


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


OPENAI_RESPONSES = Dialect(
    name="responses",
    read=read,
    remote_images=remote_images,
    translate=translate,
    error=errors.body,
    error_event=errors.stream_error,
    keepalive=b": keepalive\n\n",
    terminator=None,
    stream_error=stream_error,
    memory=Memory(recall=memory.recall, expand=memory.expand, keep=keep),
)

OPENAI_RESPONSES_COMPACT = replace(
    OPENAI_RESPONSES,
    name="responses_compact",
    read=read_compact,
    translate=translate_compact,
    stream_error=None,
    memory=Memory(recall=memory.recall, expand=memory.expand, keep=lambda body, answer: None),
)
