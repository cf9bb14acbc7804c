"""The Gemini API as a dialect entry: ``/v1beta/models/{model}:generateContent`` and
``:streamGenerateContent`` (also under ``/v1``), for Gemini CLI and the google-genai SDKs.

The model and the method come from the path; ``?alt=sse`` asks for server-sent events, without
it a stream is the JSON array Google's REST API sends. The model list and ``:countTokens`` are
the entry's too, and any other ``/v1beta`` path gets a Google-shaped 404.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from ag2api.conversation import gemini_first_turn
from ag2api.models.families import is_claude, is_image_model
from ag2api.translate.dialect import (
    JSON_ARRAY,
    SSE,
    CallContext,
    ClientCall,
    Dialect,
    RemoteImage,
    RouteInfo,
    Translation,
)
from ag2api.translate.gemini_api import errors
from ag2api.translate.gemini_api.answer import GeminiAnswer
from ag2api.translate.gemini_api.count import COUNT
from ag2api.translate.gemini_api.models import MODELS
from ag2api.translate.gemini_api.request import (
    inline_file,
    model_from_path,
    remote_file_parts,
    to_gemini,
)

STREAM_METHOD = "streamGenerateContent"


def read(body: dict[str, Any], route: RouteInfo) -> ClientCall:
    raw_model, method = route.path_args
    stream = method == STREAM_METHOD
    framing = SSE if route.query.get("alt") == "sse" else JSON_ARRAY
    return ClientCall(model_from_path(raw_model), stream, framing)


def images_by_url(body: dict[str, Any]) -> list[RemoteImage]:
    return [
        RemoteImage(where, part["fileData"]["fileUri"], partial(inline_file, part))
        for where, part in remote_file_parts(body)
    ]


def translate(body: dict[str, Any], ctx: CallContext) -> Translation:
    request, fixes = to_gemini(
        body, model=ctx.model, thinking_default=ctx.thinking, signatures=ctx.signatures
    )
    answer = GeminiAnswer(fixes, claude=is_claude(ctx.model))
    return Translation(request, is_image_model(ctx.model), answer)


GEMINI_API = Dialect(
    name="gemini",
    first_turn=gemini_first_turn,
    # The model may hold dots and dashes (gemini-2.5-flash); the method picks stream or not.
    path=r"/(?:v1beta|v1)/models/([^/:]+):(generateContent|streamGenerateContent)",
    read=read,
    remote_images=images_by_url,
    translate=translate,
    status=errors.status,
    error=errors.body,
    error_event=errors.stream_error,
    # Whitespace, not an SSE comment: google-genai (Python) fails to parse a ": …" line, and
    # the JS SDK skips blank events.
    keepalive=b"\n",
    terminator=None,
    key_in_query=True,
    models=MODELS,
    count=COUNT,
    namespace="/v1beta/",
)
