"""The Anthropic Messages API as a dialect entry: ``/v1/messages`` (Claude Code), its token count,
its model list and Claude Code's probes."""

from __future__ import annotations

from functools import partial
from typing import Any

from ag2api.ids import random_hex
from ag2api.models.entries import strip_context_suffix
from ag2api.models.families import is_image_model
from ag2api.translate.anthropic_messages import errors
from ag2api.translate.anthropic_messages.answer import MessagesAnswer
from ag2api.translate.anthropic_messages.count import COUNT
from ag2api.translate.anthropic_messages.models import MODELS
from ag2api.translate.anthropic_messages.request import inline_source, remote_images, to_gemini
from ag2api.translate.conversation import messages_first_turn
from ag2api.translate.dialect import (
    ClientRequest,
    Dialect,
    Errors,
    RemoteImage,
    RouteInfo,
    Serves,
    SideRoute,
    Translation,
    TranslationContext,
    stream_flag,
)


def read(body: dict[str, Any], route: RouteInfo) -> ClientRequest:
    # The Messages API streams only when asked; the gateway's default is for OpenAI clients.
    stream = stream_flag(body, default=False)
    model = body.get("model")
    return ClientRequest(strip_context_suffix(model) if isinstance(model, str) else model, stream)


def images_by_url(body: dict[str, Any]) -> list[RemoteImage]:
    return [
        RemoteImage(where, source.get("url", ""), partial(inline_source, source))
        for where, source in remote_images(body)
    ]


def translate(body: dict[str, Any], ctx: TranslationContext) -> Translation:
    request, info = to_gemini(body, model=ctx.model, thinking_default=ctx.thinking)
    answer = MessagesAnswer(ctx.name, info, f"msg_{random_hex(24)}")
    return Translation(request, is_image_model(ctx.model), answer)


ANTHROPIC_MESSAGES = Dialect(
    name="messages",
    first_turn=messages_first_turn,
    path=r"/v1/messages",
    read=read,
    remote_images=images_by_url,
    translate=translate,
    errors=Errors(errors.status, errors.body, errors.stream_error),
    keepalive=b'event: ping\ndata: {"type":"ping"}\n\n',
    terminator=None,
    # Claude Code waits 5 minutes for a first byte: the status stays real until the first event.
    commit_on_keepalive=False,
    models=MODELS,
    count=COUNT,
    routes=(
        SideRoute(r"/api/hello", Serves.PROBE),  # Claude Code's connection warm-up
        SideRoute(r"/api/event_logging/batch", Serves.DISCARD),  # Claude Code's telemetry
    ),
)
