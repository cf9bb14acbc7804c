"""OpenAI Chat Completions as a dialect entry: ``/v1/chat/completions``, the OpenAI model list
(the default on ``/v1/models``) and the Images API."""

from __future__ import annotations

from typing import Any

from ag2api.conversation import chat_first_turn
from ag2api.errors import InvalidRequest
from ag2api.models.families import is_claude, is_image_model
from ag2api.translate.dialect import (
    CallContext,
    ClientCall,
    Dialect,
    RouteInfo,
    Serves,
    SideRoute,
    Translation,
    stream_flag,
)
from ag2api.translate.openai_chat import errors
from ag2api.translate.openai_chat.answer import ChatAnswer
from ag2api.translate.openai_chat.models import MODELS
from ag2api.translate.openai_chat.render import ToolCallBuilder
from ag2api.translate.openai_chat.request import remote_images, translate_chat


def read(body: dict[str, Any], route: RouteInfo) -> ClientCall:
    stream = stream_flag(body, route.default_stream)
    options = body.get("stream_options")
    if options is not None and not isinstance(options, dict):
        raise InvalidRequest("'stream_options' must be an object", param="stream_options")
    return ClientCall(body.get("model"), stream)


def translate(body: dict[str, Any], ctx: CallContext) -> Translation:
    request, info = translate_chat(
        body, model=ctx.model, thinking=ctx.thinking, signatures=ctx.signatures
    )
    calls = ToolCallBuilder(
        is_claude=is_claude(ctx.model),
        single=body.get("parallel_tool_calls") is False,
        info=info,
    )
    options = body.get("stream_options")
    include_usage = bool(options and options.get("include_usage"))
    return Translation(request, is_image_model(ctx.model), ChatAnswer(ctx, calls, include_usage))


OPENAI_CHAT = Dialect(
    name="chat",
    first_turn=chat_first_turn,
    path=r"/v1/chat/completions",
    read=read,
    remote_images=remote_images,
    translate=translate,
    status=errors.status,
    error=errors.body,
    error_event=errors.stream_error,
    keepalive=b": keepalive\n\n",
    terminator=b"data: [DONE]\n\n",
    models=MODELS,
    routes=(SideRoute(r"/v1/images/generations", Serves.IMAGES),),
)
