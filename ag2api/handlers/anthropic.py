"""The Anthropic side routes besides /v1/messages: token counting and Claude Code's probes."""

from __future__ import annotations

import hashlib
import logging
import time
from typing import Any

from ag2api import jsoncodec
from ag2api.accounts.model import Account
from ag2api.dispatch import settings_for
from ag2api.errors import GatewayError
from ag2api.handlers.base import ApiHandler
from ag2api.translate.anthropic_messages.count import count_body, estimate_tokens
from ag2api.translate.anthropic_messages.errors import render_error
from ag2api.upstream.client import COUNT_TOKENS_PATH

log = logging.getLogger("ag2api.anthropic")


class AnthropicHandler(ApiHandler):
    """Errors in Anthropic's shape."""

    def render_error(self, exc: GatewayError) -> tuple[int, dict[str, Any]]:
        return render_error(exc)


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
        request = count_body(body, model=model)
        key = hashlib.blake2b(jsoncodec.dumps_bytes(request), digest_size=16).digest()
        cache = services.token_counts
        now = time.monotonic()
        counted = cache.get(key, now)
        if counted is None:
            counted = await self._count(request)
            cache.put(key, counted, now)
        self.write_json({"input_tokens": counted})

    async def _count(self, request: dict[str, Any]) -> int:
        cfg, dispatcher = self.cfg, self.services.dispatcher
        settings = settings_for(cfg)

        async def call(base: str, token: str, account: Account) -> dict[str, Any]:
            return await dispatcher.client.post_json(
                base, COUNT_TOKENS_PATH, token, request, settings
            )

        try:
            answer = await dispatcher.side_call(cfg, call)
        except Exception as exc:  # any failure: the estimate answers instead
            log.info("count_tokens upstream failed, answering an estimate: %s", exc)
        else:
            total = answer.get("totalTokens")
            if isinstance(total, int) and not isinstance(total, bool) and total >= 0:
                return total
        return estimate_tokens(request)


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
