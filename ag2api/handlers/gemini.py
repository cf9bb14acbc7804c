"""The Gemini API routes besides generation: the model list, one model, token counting.

Under ``/v1beta`` and ``/v1``. ``/v1/models`` is also the OpenAI API's model list: there a request
is a Gemini one only when it carries the Gemini API's key (``x-goog-api-key`` or ``?key=``, as
Gemini CLI and google-genai send it); everything else keeps the OpenAI (or Anthropic) answer.
Errors are Google-shaped. Generation itself is the ``gemini`` row of the dialect table.
"""

from __future__ import annotations

import logging
from typing import Any

from tornado.httputil import HTTPServerRequest
from tornado.routing import PathMatches

from ag2api.errors import GatewayError, InvalidRequest, ModelNotFound, NotFound
from ag2api.handlers.base import ApiHandler
from ag2api.models import families
from ag2api.models.catalog import display_name
from ag2api.translate.gemini.count import count_request
from ag2api.translate.gemini_api import errors
from ag2api.translate.gemini_api.dialect import model_from_path
from ag2api.translate.gemini_api.request import to_gemini

log = logging.getLogger("ag2api.gemini")

METHODS = ["generateContent", "streamGenerateContent", "countTokens"]
# Context and output limits by family (protocol §4.2, the limits peers use).
CLAUDE_CONTEXT = 200_000
GPT_OSS_CONTEXT, GPT_OSS_OUTPUT = 114_000, 32_768
GEMINI_CONTEXT = 1_048_576


def token_limits(model: str) -> tuple[int, int]:
    if model.startswith("gpt-oss"):
        return GPT_OSS_CONTEXT, GPT_OSS_OUTPUT
    context = CLAUDE_CONTEXT if families.is_claude(model) else GEMINI_CONTEXT
    return context, families.max_output_cap(model)


def gemini_model(model_id: str) -> dict[str, Any]:
    """A model in the Gemini API's shape (``models.list`` / ``models.get``)."""
    context, output = token_limits(model_id)
    name = display_name(model_id)
    return {
        "name": f"models/{model_id}",
        "baseModelId": model_id,
        "version": "001",
        "displayName": name,
        "description": f"{name} through ag2api (Antigravity)",
        "inputTokenLimit": context,
        "outputTokenLimit": output,
        "supportedGenerationMethods": list(METHODS),
    }


class GeminiOnly(PathMatches):
    """The path, for requests that carry the Gemini API's key (``x-goog-api-key``/``?key=``)."""

    def match(self, request: HTTPServerRequest) -> dict[str, Any] | None:
        if "x-goog-api-key" not in request.headers and "key" not in request.query_arguments:
            return None
        return super().match(request)


class GeminiHandler(ApiHandler):
    """Google-shaped errors; the key may come as ``?key=``."""

    key_in_query = True

    def render_error(self, exc: GatewayError) -> tuple[int, dict[str, Any]]:
        return errors.status(exc), errors.body(exc)


class GeminiModelsHandler(GeminiHandler):
    async def get(self) -> None:
        if self.trace is not None:
            self.trace.route = "models"
        entries = await self.listed_models()
        # One page holds them all: no nextPageToken, so the SDK pagers stop here.
        self.write_json({"models": [gemini_model(e.id) for e in entries]})


class GeminiModelHandler(GeminiHandler):
    async def get(self, raw_model: str) -> None:
        if self.trace is not None:
            self.trace.route = "model"
        model = model_from_path(raw_model)
        for entry in await self.listed_models():
            if entry.id == model:
                self.write_json(gemini_model(entry.id))
                return
        raise ModelNotFound(model)


class GeminiCountTokensHandler(GeminiHandler):
    """``{"totalTokens": N}`` from the upstream countTokens, over the request exactly as it would
    be generated. Its body is ``{"contents": …}`` or ``{"generateContentRequest": {…}}``.

    Always 200 once the body is valid: when no account can count, a local estimate answers; a
    failure here never cools or disables an account.
    """

    async def post(self, raw_model: str) -> None:
        body = self.parse_json_body(self.request.body)
        cfg, services = self.cfg, self.services
        model = await services.catalog.resolve(cfg, model_from_path(raw_model))
        if self.trace is not None:
            self.trace.model = model
        self.allow_model(model, model_from_path(raw_model))
        await self.add_limit_headers()
        source = body.get("generateContentRequest", body)
        if not isinstance(source, dict):
            raise InvalidRequest(
                "'generateContentRequest' must be an object", param="generateContentRequest"
            )
        translated, _ = to_gemini(source, model=model, thinking_default=None)
        request = count_request(translated)  # exactly {"request": {...}}
        self.write_json({"totalTokens": await services.token_counter.count(cfg, request)})


class GeminiNotFoundHandler(GeminiHandler):
    """Any other ``/v1beta`` path: a Google-shaped 404."""

    auth_required = False

    def authorize(self) -> None:
        super().authorize()  # takes a ?key= out of the request before anything logs it
        raise NotFound(f"Unknown path {self.request.path}")


_MODEL = r"([^/:]+)"
ROUTES = [
    (r"/(?:v1beta|v1)/models/" + _MODEL + r":countTokens", GeminiCountTokensHandler),
    (r"/v1beta/models", GeminiModelsHandler),
    (r"/v1beta/models/" + _MODEL, GeminiModelHandler),
    # /v1/models is the OpenAI list too: these two only match requests with the Gemini key.
    (GeminiOnly(r"/v1/models"), GeminiModelsHandler),
    (GeminiOnly(r"/v1/models/" + _MODEL), GeminiModelHandler),
    (r"/v1beta/.*", GeminiNotFoundHandler),
]
