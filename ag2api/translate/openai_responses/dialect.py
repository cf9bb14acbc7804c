"""The OpenAI Responses API as a dialect entry: ``/v1/responses`` (Codex CLI, the OpenAI SDKs'
``responses.*``, openai-agents), ``/v1/responses/compact`` and the stored responses' routes. Its
model list is OpenAI's (``/v1/models``, the chat entry's)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from ag2api.conversation import responses_first_turn
from ag2api.errors import GatewayError, InvalidRequest
from ag2api.models.families import is_image_model
from ag2api.translate.dialect import (
    Answer,
    CallContext,
    ClientCall,
    Dialect,
    Memory,
    RouteInfo,
    Serves,
    SideRoute,
    SseEvent,
    Translation,
    stream_flag,
)
from ag2api.translate.openai_responses import compaction, errors, memory
from ag2api.translate.openai_responses.answer import (
    CompactAnswer,
    ResponsesAnswer,
    shell,
    user_messages,
)
from ag2api.translate.openai_responses.items import as_items
from ag2api.translate.openai_responses.request import remote_images, to_gemini


def read(body: dict[str, Any], route: RouteInfo) -> ClientCall:
    stream = stream_flag(body, route.default_stream)
    for key, kind in (("store", bool), ("metadata", dict), ("include", list)):
        value = body.get(key)
        if value is not None and not isinstance(value, kind):
            raise InvalidRequest(f"'{key}' has the wrong type", param=key)
    return ClientCall(body.get("model"), stream)


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


def read_compact(body: dict[str, Any], route: RouteInfo) -> ClientCall:
    if body.get("stream") is True:
        raise InvalidRequest("Streaming is not supported for compact responses", param="stream")
    return ClientCall(read(body, route).model, False)


def translate_compact(body: dict[str, Any], ctx: CallContext) -> Translation:
    items = as_items(body.get("input"))
    asked = {**body, "input": [*items, {"type": compaction.TRIGGER}]}
    request, info = to_gemini(asked, model=ctx.model, thinking_default=ctx.thinking)
    answer = CompactAnswer(shell(body, ctx), info, user_messages(items))
    return Translation(request, is_image_model(ctx.model), answer)


_RESPONSES = Dialect(
    name="responses",
    first_turn=responses_first_turn,
    path=r"/v1/responses",
    read=read,
    remote_images=remote_images,
    translate=translate,
    status=errors.status,
    error=errors.body,
    error_event=errors.stream_error,
    keepalive=b": keepalive\n\n",
    terminator=None,
    stream_error=stream_error,
    memory=Memory(recall=memory.recall, expand=memory.expand, keep=keep),
)

OPENAI_RESPONSES_COMPACT = replace(
    _RESPONSES,
    name="responses_compact",
    path=r"/v1/responses/compact",
    read=read_compact,
    translate=translate_compact,
    stream_error=None,
    memory=Memory(recall=memory.recall, expand=memory.expand, keep=lambda body, answer: None),
)

OPENAI_RESPONSES = replace(
    _RESPONSES,
    routes=(
        SideRoute(OPENAI_RESPONSES_COMPACT.path, Serves.GENERATE, OPENAI_RESPONSES_COMPACT),
        # Any id but "compact", which is the route above.
        SideRoute(r"/v1/responses/(?!compact$)([^/]+)", Serves.STORED_RESPONSE),
        SideRoute(r"/v1/responses/([^/]+)/input_items", Serves.STORED_INPUT_ITEMS),
    ),
)
