"""The Anthropic side routes besides /v1/messages: token counting and Claude Code's probes."""

from __future__ import annotations

import logging
from typing import Any

from ag2api.errors import GatewayError
from ag2api.handlers.base import ApiHandler
from ag2api.translate.anthropic_messages import errors
from ag2api.translate.anthropic_messages.count import count_body

log = logging.getLogger("ag2api.anthropic")


class AnthropicHandler(ApiHandler):
    """Errors in Anthropic's shape."""

    def render_error(self, exc: GatewayError) -> tuple[int, dict[str, Any]]:
        return errors.status(exc), errors.body(exc)


class CountTokensHandler(AnthropicHandler):
    """``{"input_tokens": N}`` from the upstream countTokens, translated exactly as for generation.

    Always 200: when no account can count, a local estimate answers; a failure here never cools
    or disables an account.
    """

    async def post(self) -> None:
        body = self.parse_json_body(self.request.body)
        cfg, services = self.cfg, self.services
        model = await services.catalog.resolve(cfg, body.get("model"))
        if self.trace is not None:
            self.trace.model = model
        asked = body.get("model")
        self.allow_model(model, asked if isinstance(asked, str) else None)
        await self.add_limit_headers()
        request = count_body(body, model=model)
        counted = await services.token_counter.count(cfg, request)
        self.write_json({"input_tokens": counted})


class HelloHandler(ApiHandler):
    """Claude Code's connection-warming probe."""

    auth_required = False

    def head(self) -> None:
        self.set_status(200)
        self.finish()

    def get(self) -> None:
        self.write_json({"status": "ok"})


class EventLoggingHandler(AnthropicHandler):
    """Claude Code's telemetry batches: accepted and dropped."""

    def post(self) -> None:
        self.write_json({"status": "ok"})


ROUTES = [
    (r"/v1/messages/count_tokens", CountTokensHandler),
    (r"/api/hello", HelloHandler),
    (r"/api/event_logging/batch", EventLoggingHandler),
]
