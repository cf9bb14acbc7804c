"""One handler for every completion dialect: model resolution, the key's admission, remote
images, dispatch, relay, client disconnect. What differs per client API is its entry in
``translate.DIALECTS``, passed in by the route."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

from ag2api.config.schema import GatewayConfig
from ag2api.errors import GatewayError
from ag2api.failover.client_errors import client_error_mid_stream
from ag2api.failover.served import OpenedStream
from ag2api.handlers.generating import GeneratingHandler
from ag2api.handlers.sse import ClientGone, SseStream
from ag2api.services import Services
from ag2api.state.records import owner_of
from ag2api.translate.conversation import Conversation, conversation_id
from ag2api.translate.dialect import (
    Answer,
    ClientRequest,
    Dialect,
    Memory,
    RouteInfo,
    Translation,
    TranslationContext,
)
from ag2api.translate.gemini.events import Reply
from ag2api.upstream.client import UpstreamProblem

log = logging.getLogger("ag2api.completion")
# Names the upstream model that served: the one asked, or a fallback (models.fallbacks).
SERVED_MODEL = "x-ag2api-served-model"


class Translations:
    """The request translated for each model that may serve it, made when first needed: the
    asked one answers under the client's name, a fallback under its own."""

    def __init__(
        self,
        dialect: Dialect,
        body: dict[str, Any],
        asked: str,
        cfg: GatewayConfig,
        services: Services,
        missing: list[str],
    ) -> None:
        self._dialect, self._body, self._asked = dialect, body, asked
        self._cfg, self._services, self._missing = cfg, services, missing
        self._first: str | None = None
        self._made: dict[str, Translation] = {}

    def of(self, model: str) -> Translation:
        found = self._made.get(model)
        if found is None:
            found = self._made[model] = self._translate(model)
        return found

    def again(self, model: str) -> Translation:
        self._made.pop(model, None)
        return self.of(model)

    def request(self, model: str) -> dict[str, Any]:
        return self.of(model).request

    def _translate(self, model: str) -> Translation:
        if self._first is None:
            self._first = model
        rule = self._cfg.models.rule_for(model)
        ctx = TranslationContext(
            name=self._asked if model == self._first else model,
            model=model,
            thinking=rule.thinking.to_gemini() if rule and rule.thinking else None,
            signatures=self._services.signature_lookup(self._missing),
            created=int(time.time()),
        )
        return self._dialect.translate(self._body, ctx)


class CompletionHandler(GeneratingHandler):
    records_usage = True  # its requests go into the usage statistics
    dialect: Dialect
    large_bodies = True

    def initialize(self, dialect: Dialect | None = None) -> None:
        # Set before auth can fail: on_connection_close reads them after a rejected request.
        assert dialect is not None
        super().initialize(dialect)
        self.dialect = dialect
        # For stateful dialects (Dialect.memory) and answer-rendered stream errors.
        self._request_body: dict[str, Any] | None = None
        self._answer: Answer | None = None

    def prepare(self) -> None:
        super().prepare()
        assert self.trace is not None
        self.trace.route = self.dialect.name

    async def post(self, *path_args: str) -> None:
        body = self.parse_json_body(self.request.body)
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
        fallbacks = self._fallbacks(model)
        async with self.admitted(model, *fallbacks, asked=call.model):
            await self._generate(body, call, model, fallbacks)

    def _fallbacks(self, model: str) -> tuple[str, ...]:
        """The models that may serve instead of ``model`` for this key (models.fallbacks, those
        its policy allows; none when it forbids fallbacks)."""
        admission = self.key_admission
        if not admission.policy.fallbacks:
            return ()
        return tuple(m for m in self.cfg.models.fallbacks_for(model) if admission.allows(m))

    def _conversation(self, body: dict[str, Any]) -> Conversation | None:
        """The conversation the request continues (routing keeps it on one account)."""
        first_turn = self.dialect.first_turn
        if not self.cfg.routing.affinity or first_turn is None:
            return None
        key = self.client_key
        return conversation_id(first_turn, self.request.headers, body, key.ident if key else "")

    async def _generate(
        self, body: dict[str, Any], call: ClientRequest, model: str, fallbacks: tuple[str, ...]
    ) -> None:
        cfg, services, trace = self.cfg, self.services, self.trace
        assert trace is not None
        images = self.dialect.remote_images(body)
        if images:
            # Cancelled with the request when the client leaves (the fetches stop at once).
            fetched = self.until_client_leaves(
                services.images.inline(images, cfg.images, cfg.upstream.proxy)
            )
            if await fetched is None:
                return
        missing: list[str] = []
        translations = Translations(self.dialect, body, call.model, cfg, services, missing)
        translation = await self.translated(lambda: translations.of(model))
        if missing and await services.recall_signatures(missing):
            # With another replica's records.
            translation = await self.translated(lambda: translations.again(model))
        self._request_body, self._answer = body, translation.answer
        conversation = self._conversation(body)
        if call.stream:
            await self.until_client_leaves(
                self._stream(translations, model, call, fallbacks, conversation)
            )
            return
        response = await self.until_client_leaves(
            services.dispatcher.generate(
                cfg,
                model,
                translation.request,
                image=translation.image,
                trace=trace,
                fallbacks=fallbacks,
                translate=translations.request,
                conversation=conversation,
            )
        )
        if response is None:
            return
        translation = translations.of(trace.served or model)
        self.set_header(SERVED_MODEL, trace.served or model)
        try:
            answer = translation.answer.whole(Reply(response))
        except GatewayError:
            # Refused after the upstream answered (a compaction without a summary): its tokens
            # were spent all the same (charged as the admission settles).
            trace.add_usage(translation.answer.usage())
            raise
        self._remember(translation)
        await self._keep(translation.answer)
        trace.add_usage(translation.answer.usage())
        await self.key_admission.settle()  # charged before the client can send its next request
        self.write_json(answer)

    def _remember(self, translation: Translation) -> None:
        for call_id, record in translation.answer.thinking_records().items():
            self.services.signatures.remember(call_id, record)
            self.services.share_signature(call_id, record)

    async def _stream(
        self,
        translations: Translations,
        model: str,
        call: ClientRequest,
        fallbacks: tuple[str, ...],
        conversation: Conversation | None,
    ) -> None:
        sse = SseStream(self, self.dialect, self.cfg.server.keepalive, call.framing)
        translation = translations.of(model)

        def started(serving: str) -> None:
            """An upstream call begins with ``serving``: its answer renders, its name goes out
            with the headers (which a keepalive may send from now on)."""
            self._answer = translations.of(serving).answer
            if not sse.started:
                self.set_header(SERVED_MODEL, serving)
            sse.arm()

        sse.start_heartbeat()
        try:
            # Leaving the block releases the account and aborts the transfer, however it ends.
            async with self.services.dispatcher.stream(
                self.cfg,
                model,
                translation.request,
                image=translation.image,
                committed=lambda: sse.started,
                started=started,
                trace=self.trace,
                fallbacks=fallbacks,
                translate=translations.request,
                conversation=conversation,
            ) as opened:
                await self._relay(translations.of(opened.model), opened, sse)
        except asyncio.CancelledError:
            if self._client_gone:
                return
            if not self._shutting_down or not sse.started:
                raise
            await self._end_stream_with_error(sse, GatewayError("The gateway is shutting down."))
        except GatewayError as exc:
            if not sse.started:
                raise  # still a real HTTP status
            await self._end_stream_with_error(sse, exc)  # the keepalive already sent the headers
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
                    await sse.send(answer.feed(Reply(batch[0])))
                else:
                    await sse.send([e for chunk in batch for e in answer.feed(Reply(chunk))])
                if first:
                    trace.first_token_at = time.monotonic()
                    first = False
            trace.upstream_ended = time.monotonic()
            trace.add_usage(answer.usage())
            self._remember(translation)
            closing = answer.finish()
            await self._keep(answer)  # before the client can read the id and ask for it
            await self.key_admission.settle()  # charged before the client's next request
            await sse.done(closing)
        except ClientGone:
            self._client_gone = True
        except UpstreamProblem as exc:
            if not self._client_gone:
                log.warning("stream %s failed after it started: %s", self.request_id, exc)
                trace.add_usage(answer.usage())
                await self._end_stream_with_error(sse, client_error_mid_stream(exc))
        except Exception:
            log.exception("stream %s failed inside the gateway", self.request_id)
            await self._end_stream_with_error(sse, GatewayError("The gateway failed mid-stream."))

    async def _end_stream_with_error(self, sse: SseStream, error: GatewayError) -> None:
        if self.trace is not None:
            self.trace.error_type = error.kind
            self.trace.upstream_ended = self.trace.upstream_ended or time.monotonic()
        events = None
        if self.dialect.stream_error is not None and self._answer is not None:
            events = self.dialect.stream_error(self._answer, error)
        with contextlib.suppress(ClientGone):
            await sse.fail(error, events)

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
