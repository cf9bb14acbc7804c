"""OpenAI Chat Completions as a dialect entry: `/v1/chat/completions`."""

from __future__ import annotations

from typing import Any

from ag2api.errors import GatewayError, InvalidRequest
from ag2api.models.families import is_claude, is_image_model
from ag2api.translate.dialect import (
    CallContext,
    ClientCall,
    Dialect,
    RouteInfo,
    SseEvent,
    Translation,
    stream_flag,
)
from ag2api.translate.openai_chat.remote_images import openai_remote_images
from ag2api.translate.openai_chat.render import new_completion_id
from ag2api.translate.openai_chat.request import translate_chat
from ag2api.translate.openai_chat.response import ToolCallBuilder, to_chat_completion
from ag2api.translate.openai_chat.stream import ChatStreamTranslator
from ag2api.translate.signatures import ThinkingRecord


def read(body: dict[str, Any], route: RouteInfo) -> ClientCall:
    stream = stream_flag(body, route.default_stream)
    options = body.get("stream_options")
    if options is not None and not isinstance(options, dict):
        raise InvalidRequest("'stream_options' must be an object", param="stream_options")
    return ClientCall(body.get("model"), stream)


class ChatAnswer:
    """The chat.completion (or its chunks) for one request."""

    __slots__ = ("_ctx", "_stream", "_whole_usage", "calls")

    def __init__(self, ctx: CallContext, calls: ToolCallBuilder, include_usage: bool) -> None:
        self._ctx = ctx
        self.calls = calls
        self._whole_usage: dict[str, Any] | None = None
        self._stream = ChatStreamTranslator(
            completion_id=new_completion_id(),
            model=ctx.name,
            created=ctx.created,
            include_usage=include_usage,
            calls=calls,
        )

    def feed(self, chunk: dict[str, Any]) -> list[SseEvent]:
        return [(None, c) for c in self._stream.feed(chunk)]

    def finish(self) -> list[SseEvent]:
        return [(None, c) for c in self._stream.finish()]

    def whole(self, response: dict[str, Any]) -> dict[str, Any]:
        completion = to_chat_completion(
            response,
            completion_id=new_completion_id(),
            model=self._ctx.name,
            created=self._ctx.created,
            calls=self.calls,
        )
        self._whole_usage = completion.get("usage")
        return completion

    def usage(self) -> dict[str, Any]:
        return self._whole_usage if self._whole_usage is not None else self._stream.usage()

    def thinking_records(self) -> dict[str, ThinkingRecord]:
        return self.calls.records


def translate(body: dict[str, Any], ctx: CallContext) -> Translation:
    request, reply = translate_chat(
        body, model=ctx.model, thinking=ctx.thinking, signatures=ctx.signatures
    )
    calls = ToolCallBuilder(
        is_claude=is_claude(ctx.model),
        single=body.get("parallel_tool_calls") is False,
        reply=reply,
    )
    options = body.get("stream_options")
    include_usage = bool(options and options.get("include_usage"))
    return Translation(request, is_image_model(ctx.model), ChatAnswer(ctx, calls, include_usage))


def error_event(exc: GatewayError) -> SseEvent:
    return (None, exc.to_openai())


OPENAI_CHAT = Dialect(
    name="chat",
    read=read,
    remote_images=openai_remote_images,
    translate=translate,
    error=lambda exc: exc.to_openai(),
    error_event=error_event,
    keepalive=b": keepalive\n\n",
    terminator=b"data: [DONE]\n\n",
)
