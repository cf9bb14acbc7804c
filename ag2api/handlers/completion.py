"""One handler for every completion dialect: body limits, model resolution, dispatch, relay,
client disconnect. What differs per client API is an entry of the dialect table
(``translate/dialects.py``), passed in by the route."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable
from typing import Any, TypeVar

from tornado.web import stream_request_body

from ag2api.errors import GatewayError, PayloadTooLarge
from ag2api.failover.client_errors import error_for_problem
from ag2api.failover.dispatcher import OpenedStream
from ag2api.handlers.base import ApiHandler
from ag2api.handlers.sse import ClientGone, SseStream
from ag2api.keys.policies import periods, rate_headers, refusal
from ag2api.state.records import owner_of
from ag2api.translate.anthropic_messages.dialect import ANTHROPIC_MESSAGES
from ag2api.translate.dialect import (
    Answer,
    CallContext,
    ClientCall,
    Dialect,
    Memory,
    RouteInfo,
    Translation,
)
from ag2api.translate.gemini_api.dialect import GEMINI_API
from ag2api.translate.openai_chat.dialect import OPENAI_CHAT
from ag2api.translate.openai_responses.dialect import OPENAI_RESPONSES, OPENAI_RESPONSES_COMPACT
from ag2api.upstream.client import UpstreamProblem

log = logging.getLogger("ag2api.completion")
T = TypeVar("T")

# Bodies over the limit are read and discarded up to this size, so the client gets its 413
# (refusing mid-upload would reset the connection before the client reads the answer).
DISCARD_CAP = 1024 * 1024 * 1024


@stream_request_body
class CompletionHandler(ApiHandler):
    dialect: Dialect

    max_body = DISCARD_CAP  # larger declared bodies: 413 before reading; see data_received

    def initialize(self, dialect: Dialect) -> None:
        # Set before auth can fail: on_connection_close reads them after a rejected request.
        self.dialect = dialect
        self.key_in_query = dialect.key_in_query
        self._chunks: list[bytes] = []
        self._size = 0
        self._limit = 0
        self._work: asyncio.Future[Any] | None = None
        self._client_gone = False
        self._shutting_down = False
        # For stateful dialects (Dialect.memory) and answer-rendered stream errors.
        self._request_body: dict[str, Any] | None = None
        self._answer: Answer | None = None
        # The key's admission (key policies): lease to give back, tokens still to charge.
        self._key_lease: tuple[str, str] | None = None  # (key ident, lease id)
        self._key_charge: tuple[str, str, str] | None = None  # (key ident, day, month)

    def prepare(self) -> None:
        super().prepare()
        assert self.trace is not None
        self.trace.route = self.dialect.name
        self._limit = self.cfg.server.max_body_bytes
        self.request.connection.set_max_body_size(max(self._limit, DISCARD_CAP))  # type: ignore[union-attr]

    def data_received(self, chunk: bytes) -> None:
        self._size += len(chunk)
        if self._size > self._limit:
            self._chunks = []
        else:
            self._chunks.append(chunk)

    def _too_large_message(self) -> str:
        return f"The request body is larger than the gateway's limit of {self._limit} bytes."

    def render_error(self, exc: GatewayError) -> tuple[int, dict[str, Any]]:
        return self.dialect.status(exc), self.dialect.error(exc)

    def abort_for_shutdown(self) -> None:
        self._shutting_down = True
        if self._work is not None:
            self._work.cancel()

    def on_finish(self) -> None:
        super().on_finish()
        self._end_admission()

    def on_connection_close(self) -> None:
        super().on_connection_close()
        self._end_admission()
        self._client_gone = True
        if self._work is not None:
            self._work.cancel()

    async def post(self, *path_args: str) -> None:
        if self._size > self._limit:
            raise PayloadTooLarge(self._too_large_message())
        body = self.parse_json_body(b"".join(self._chunks))
        self._chunks = []
        cfg, services, trace = self.cfg, self.services, self.trace
        assert trace is not None
        route = RouteInfo(
            cfg.defaults.stream,
            path_args,
            {name: self.get_query_argument(name) for name in self.request.query_arguments},
        )
        call = self.dialect.read(body, route)
        trace.stream = call.stream
        if self.dialect.memory is not None:
            body = await self._recall(self.dialect.memory, body)
        model = await services.catalog.resolve(cfg, call.model)
        trace.model = model
        await self._admit(model, call.model)
        images = self.dialect.remote_images(body)
        if images:
            # Cancelled with the request when the client leaves (the fetches stop at once).
            fetched = self._cancel_when_client_leaves(
                services.images.inline(images, cfg.images, cfg.upstream.proxy)
            )
            if await fetched is None:
                return
        policy = cfg.models.policy_for(model)
        missing: list[str] = []
        ctx = CallContext(
            name=call.model,
            model=model,
            thinking=policy.thinking.to_gemini() if policy and policy.thinking else None,
            signatures=services.signature_lookup(missing),
            created=int(time.time()),
        )
        translation = self.dialect.translate(body, ctx)
        if missing and await services.recall_signatures(missing):
            translation = self.dialect.translate(body, ctx)  # with another replica's records
        self._request_body, self._answer = body, translation.answer
        if call.stream:
            await self._cancel_when_client_leaves(self._stream(translation, model, call))
            return
        response = await self._cancel_when_client_leaves(
            services.dispatcher.generate(
                cfg, model, translation.request, image=translation.image, trace=trace
            )
        )
        if response is None:
            return
        try:
            answer = translation.answer.whole(response)
        except GatewayError:
            # Refused after the upstream answered (a compaction without a summary): its tokens
            # were spent all the same.
            trace.add_usage(translation.answer.usage())
            await self._settle_key()
            raise
        self._remember(translation)
        await self._keep(translation.answer)
        trace.add_usage(translation.answer.usage())
        await self._settle_key()
        self.write_json(answer)

    async def _cancel_when_client_leaves(self, work: Awaitable[T]) -> T | None:
        """Await ``work``; when the client disconnects it is cancelled (None is returned), which
        aborts its upstream transfer and gives its account slot back."""
        task = asyncio.ensure_future(work)
        self._work = task
        try:
            return await task
        except asyncio.CancelledError:
            if self._client_gone:
                return None
            if self._shutting_down:
                raise GatewayError(
                    "The gateway is shutting down; retry shortly.",
                    kind="server_busy",
                    retry_after=1.0,
                ) from None
            raise
        finally:
            self._work = None

    def _remember(self, translation: Translation) -> None:
        for call_id, record in translation.answer.thinking_records().items():
            self.services.signatures.remember(call_id, record)
            self.services.share_signature(call_id, record)

    async def _stream(self, translation: Translation, model: str, call: ClientCall) -> None:
        sse = SseStream(self, self.dialect, self.cfg.server.keepalive, call.framing)
        sse.start_heartbeat()
        try:
            # Leaving the block releases the account and aborts the transfer, however it ends.
            async with self.services.dispatcher.stream(
                self.cfg,
                model,
                translation.request,
                image=translation.image,
                committed=lambda: sse.started,
                started=lambda model: sse.arm(),
                trace=self.trace,
            ) as opened:
                await self._relay(translation, opened, sse)
        except asyncio.CancelledError:
            if self._client_gone:
                return
            if not self._shutting_down or not sse.started:
                raise
            await self._fail_quietly(sse, GatewayError("The gateway is shutting down."))
        except GatewayError as exc:
            if not sse.started:
                raise  # still a real HTTP status
            await self._fail_quietly(sse, exc)  # the keepalive already sent the headers
        finally:
            sse.stop_heartbeat()

    async def _relay(self, translation: Translation, opened: OpenedStream, sse: SseStream) -> None:
        """Forward the stream until it ends, the client leaves or the upstream fails."""
        answer, trace = translation.answer, self.trace
        assert trace is not None
        try:
            first = True
            async for batch in opened.batches():
                if len(batch) == 1:  # the usual case: no list to build
                    await sse.send(answer.feed(batch[0]))
                else:
                    await sse.send([e for chunk in batch for e in answer.feed(chunk)])
                if first:
                    trace.first_token_at = time.monotonic()
                    first = False
            trace.upstream_ended = time.monotonic()
            trace.add_usage(answer.usage())
            self._remember(translation)
            closing = answer.finish()
            await self._keep(answer)  # before the client can read the id and ask for it
            await self._settle_key()  # charged before the client can send its next request
            await sse.done(closing)
        except ClientGone:
            self._client_gone = True
        except UpstreamProblem as exc:
            if not self._client_gone:
                log.warning("stream %s failed after it started: %s", self.request_id, exc)
                trace.add_usage(answer.usage())
                await self._fail_quietly(sse, error_for_problem(exc))
        except Exception:
            log.exception("stream %s failed inside the gateway", self.request_id)
            await self._fail_quietly(sse, GatewayError("The gateway failed mid-stream."))

    async def _fail_quietly(self, sse: SseStream, error: GatewayError) -> None:
        if self.trace is not None:
            self.trace.error_type = error.kind
            self.trace.upstream_ended = self.trace.upstream_ended or time.monotonic()
        events = None
        if self.dialect.stream_error is not None and self._answer is not None:
            events = self.dialect.stream_error(self._answer, error)
        with contextlib.suppress(ClientGone):
            await sse.fail(error, events)

    async def _admit(self, model: str, asked: str) -> None:
        """The key's policy: 403 for a model it may not use, 429 over a limit or budget; when
        admitted, the request is counted and a concurrency lease held until it ends."""
        key = self.client_key
        if key is None:
            return
        policy = self.cfg.policy_of(key)
        metrics = self.services.metrics
        self.allow_model(model, asked)
        if not policy.has_limits:
            return
        day, month = periods()
        adm = await self.services.state.key_admit(key.ident, policy, day, month)
        self.rate_headers = rate_headers(policy, adm)
        for name, value in self.rate_headers.items():
            self.set_header(name, value)
        if not adm.ok:
            metrics.key_rejections.labels(key.label, adm.reason or "rpm").inc()
            raise refusal(policy, key.label, adm)
        assert adm.lease is not None
        self._key_lease = (key.ident, adm.lease)
        self._key_charge = (key.ident, day, month)

    async def _settle_key(self) -> None:
        """Charge the answer's tokens and give the lease back (before the last byte goes out)."""
        charge, lease = self._key_charge, self._key_lease
        self._key_charge = self._key_lease = None
        state, trace = self.services.state, self.trace
        try:
            if charge is not None and trace is not None:
                tokens = trace.prompt_tokens + trace.completion_tokens
                await state.key_charge(charge[0], tokens, charge[1], charge[2])
            if lease is not None:
                await state.key_release(*lease)
        except Exception:
            log.exception("could not settle the key's limits for %s", self.request_id)

    def _end_admission(self) -> None:
        """Whatever way the request ended: charge what was used and give the lease back."""
        if self._key_charge is not None or self._key_lease is not None:
            self.services.state.spawn(self._settle_key())

    def _owner(self) -> str | None:
        return owner_of(self.client_key)

    async def _recall(self, memory: Memory, body: dict[str, Any]) -> dict[str, Any]:
        """The body with the stored state it continues merged in (another key's is unknown)."""
        ref = memory.recall(body)
        stored = await self.services.responses.get(ref) if ref is not None else None
        if stored is not None and stored.get("owner") != self._owner():
            stored = None
        return memory.expand(body, stored)

    async def _keep(self, answer: Answer) -> None:
        """Store what a stateful dialect keeps; a store failure never fails the answer."""
        memory, body = self.dialect.memory, self._request_body
        if memory is None or body is None:
            return
        kept = memory.keep(body, answer)
        if kept is None:
            return
        response_id, record = kept
        try:
            await self.services.responses.put(response_id, {**record, "owner": self._owner()})
        except Exception:
            log.exception("could not store response %s", response_id)


# The dialect table: a client API is a row here plus its package under translate/.
DIALECT_ROUTES = (
    (r"/v1/chat/completions", OPENAI_CHAT),
    (r"/v1/messages", ANTHROPIC_MESSAGES),
    (r"/v1/responses", OPENAI_RESPONSES),
    (r"/v1/responses/compact", OPENAI_RESPONSES_COMPACT),
    # The model may hold dots and dashes (gemini-2.5-flash); the method picks stream or not.
    (r"/(?:v1beta|v1)/models/([^/:]+):(generateContent|streamGenerateContent)", GEMINI_API),
)
ROUTES = [(path, CompletionHandler, {"dialect": dialect}) for path, dialect in DIALECT_ROUTES]
