"""POST /v1/chat/completions, streaming and not."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any, TypeVar

from tornado.web import stream_request_body

from ag2api.dispatch import OpenedStream
from ag2api.errors import GatewayError, InvalidRequest, PayloadTooLarge
from ag2api.handlers.base import ApiHandler
from ag2api.handlers.relay import ClientGone, SseRelay
from ag2api.outcomes import error_for_problem
from ag2api.translate.common import new_completion_id
from ag2api.translate.openai_chat.request import is_image_model, to_gemini
from ag2api.translate.openai_chat.response import ToolCallBuilder, to_chat_completion
from ag2api.translate.openai_chat.stream import ChatStreamTranslator
from ag2api.upstream.client import UpstreamCall, UpstreamProblem

log = logging.getLogger("ag2api.chat")
T = TypeVar("T")


@dataclass(frozen=True)
class UpstreamRequest:
    name: str  # what the client asked for (an alias, maybe): echoed in the answer
    model: str  # the upstream model id
    request: dict[str, Any]
    image: bool
    single_tool_call: bool  # parallel_tool_calls: false


# Bodies over the limit are read and discarded up to this size, so the client gets its JSON 413
# (refusing mid-upload would reset the connection before the client reads the answer).
DISCARD_CAP = 1024 * 1024 * 1024


@stream_request_body
class ChatCompletionsHandler(ApiHandler):
    def prepare(self) -> None:
        super().prepare()
        self._chunks: list[bytes] = []
        self._size = 0
        self._limit = self.cfg.server.max_body_bytes
        self._upstream: UpstreamCall | None = None
        self._work: asyncio.Future[Any] | None = None
        self._client_gone = False
        declared = self.request.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > DISCARD_CAP:
            raise PayloadTooLarge(self._too_large_message())
        self.request.connection.set_max_body_size(max(self._limit, DISCARD_CAP))  # type: ignore[union-attr]

    def data_received(self, chunk: bytes) -> None:
        self._size += len(chunk)
        if self._size > self._limit:
            self._chunks = []
        else:
            self._chunks.append(chunk)

    def _too_large_message(self) -> str:
        return f"The request body is larger than the gateway's limit of {self._limit} bytes."

    def abort_for_shutdown(self) -> None:
        if self._upstream is not None:
            self._upstream.abort("the gateway is shutting down")
        if self._work is not None:
            self._work.cancel()

    def on_connection_close(self) -> None:
        super().on_connection_close()
        self._client_gone = True
        if self._upstream is not None:
            self._upstream.abort("client disconnected")
        if self._work is not None:
            self._work.cancel()

    async def post(self) -> None:
        if self._size > self._limit:
            raise PayloadTooLarge(self._too_large_message())
        body = self.parse_json_body(b"".join(self._chunks))
        self._chunks = []
        cfg, services = self.cfg, self.services
        stream = body.get("stream")
        if stream is None:
            stream = cfg.defaults.stream
        if not isinstance(stream, bool):
            raise InvalidRequest("'stream' must be true or false", param="stream")
        options = body.get("stream_options")
        if options is not None and not isinstance(options, dict):
            raise InvalidRequest("'stream_options' must be an object", param="stream_options")
        include_usage = bool(options and options.get("include_usage"))
        name = body.get("model")
        trace = self.trace
        assert trace is not None
        trace.stream = stream
        model = await services.catalog.resolve(cfg, name)
        trace.model = model
        await services.images.inline_remote_images(body, cfg.images, cfg.upstream.proxy)
        policy = cfg.models.policy_for(model)
        thinking = policy.thinking.to_gemini() if policy and policy.thinking else None
        request = to_gemini(
            body, model=model, thinking=thinking, signatures=services.signatures.get
        )
        single = body.get("parallel_tool_calls") is False
        call = UpstreamRequest(name, model, request, is_image_model(model), single)
        if stream:
            await self._stream(call, include_usage)
            return
        response = await self._until_gone(
            services.dispatcher.generate(cfg, model, request, image=call.image, trace=trace)
        )
        if response is None:
            return
        builder = ToolCallBuilder(is_claude=model.startswith("claude"), single=single)
        completion = to_chat_completion(
            response,
            completion_id=new_completion_id(),
            model=name,
            created=int(time.time()),
            calls=builder,
        )
        self._remember(builder)
        trace.add_usage(completion.get("usage"))
        self.write_json(completion)

    async def _until_gone(self, work: Awaitable[T]) -> T | None:
        """Await ``work``; when the client disconnects it is cancelled (None is returned), which
        aborts its upstream transfer and gives its account slot back."""
        task = asyncio.ensure_future(work)
        self._work = task
        try:
            return await task
        except asyncio.CancelledError:
            if self._client_gone:
                return None
            raise
        finally:
            self._work = None

    def _remember(self, builder: ToolCallBuilder) -> None:
        for call_id, record in builder.records.items():
            self.services.signatures.remember(call_id, record)

    async def _stream(self, call: UpstreamRequest, include_usage: bool) -> None:
        relay = SseRelay(self, self.cfg.server.keepalive)
        relay.start_heartbeat()
        completed = False
        opened = None
        try:
            opened = await self._until_gone(
                self.services.dispatcher.open_stream(
                    self.cfg,
                    call.model,
                    call.request,
                    image=call.image,
                    committed=lambda: relay.started,
                    trace=self.trace,
                )
            )
            if opened is None:
                return
            self._upstream = opened.call
            completed = await self._relay(call, include_usage, opened, relay)
        except GatewayError as exc:
            if not relay.started:
                raise  # still a real HTTP status
            await self._fail_quietly(relay, exc)  # the keepalive already sent the headers
        finally:
            relay.stop_heartbeat()
            if opened is not None:
                opened.lease.release(ok=completed)

    async def _relay(
        self, call: UpstreamRequest, include_usage: bool, opened: OpenedStream, relay: SseRelay
    ) -> bool:
        """Forward the stream; True when it ended normally."""
        translator = ChatStreamTranslator(
            completion_id=new_completion_id(),
            model=call.name,
            created=int(time.time()),
            include_usage=include_usage,
            calls=ToolCallBuilder(
                is_claude=call.model.startswith("claude"), single=call.single_tool_call
            ),
        )
        trace = self.trace
        assert trace is not None
        try:
            await relay.send(translator.feed(opened.first))
            trace.first_token_at = time.monotonic()
            async for event in opened.call:
                chunks = translator.feed(event)
                for more in opened.call.take_ready():
                    chunks += translator.feed(more)
                await relay.send(chunks)
            trace.upstream_ended = time.monotonic()
            trace.add_usage(translator.usage())
            self._remember(translator.calls)
            await relay.send(translator.finish())
            await relay.done()
            return True
        except ClientGone:
            opened.call.abort("client disconnected")
        except UpstreamProblem as exc:
            if not self._client_gone:
                log.warning("stream %s failed after it started: %s", self.request_id, exc)
                await self._fail_quietly(relay, error_for_problem(exc))
        except Exception:
            opened.call.abort("gateway error")
            log.exception("stream %s failed inside the gateway", self.request_id)
            await self._fail_quietly(relay, GatewayError("The gateway failed mid-stream."))
        return False

    async def _fail_quietly(self, relay: SseRelay, error: GatewayError) -> None:
        if self.trace is not None:
            self.trace.error_type = error.kind
            self.trace.upstream_ended = self.trace.upstream_ended or time.monotonic()
        with contextlib.suppress(ClientGone):
            await relay.fail(error)


ROUTES = [(r"/v1/chat/completions", ChatCompletionsHandler)]
