"""The fake's generation endpoints: generate and stream, the model list, the quota summary and
countTokens."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from tornado.iostream import StreamClosedError

from ag2api.testing import fake_bodies as bodies
from ag2api.testing import fake_claude_rules, fake_filter, fake_model
from ag2api.testing.fake_base import FakeHandler
from ag2api.testing.fake_pool import full_summary
from ag2api.testing.fake_state import Step


class GenerateHandler(FakeHandler):
    def initialize(self, stream: bool) -> None:
        self.stream = stream
        self.closed = False
        self.gone = asyncio.Event()

    def on_connection_close(self) -> None:
        self.closed = True
        self.gone.set()
        self.fake.closed_streams += 1
        self.fake.stream_closed.set()

    async def post(self) -> None:
        body = self.record()
        fake, sse_type = self.fake, self.stream
        if self.stream and self.get_query_argument("alt", None) != "sse":
            self.fail(400, bodies.INVALID_ARGUMENT, sse_type=sse_type)
            return
        account = self.check_auth(sse_type)
        if account is None:
            return None
        step = fake.next_step(self.settings["host_label"])
        if step is None and fake.chaos is not None:
            step = fake.chaos(body)
        step = step or Step()
        if step.delay:
            await asyncio.sleep(step.delay)
        if step.status != 200:
            self.fail(step.status, step.body, sse_type=sse_type)
            return
        if account.needs_verification:
            self.fail(403, bodies.VALIDATION_REQUIRED, sse_type=sse_type)
            return
        if not isinstance(body, dict) or body.get("project") != account.project_id:
            project = body.get("project") if isinstance(body, dict) else "?"
            self.fail(403, bodies.consumer_invalid(str(project)), sse_type=sse_type)
            return
        if fake_filter.refused(body, fake_filter.triggers(fake.content_filter)):
            fake.content_rejections += 1
            self.fail(429, bodies.BARE_RESOURCE_EXHAUSTED, sse_type=sse_type)
            return
        model = str(body.get("model"))
        if model not in fake.models:
            self.fail(404, bodies.NOT_FOUND, sse_type=sse_type)
            return
        if not fake.version_ok(self.request.headers.get("User-Agent", "")):
            if fake.version_mode == "error":
                self.fail(400, bodies.version_error(), sse_type=sse_type)
                return
            # Seen in the wild as the whole answer, with no tokens counted (AM #2134).
            notice = bodies.response_event(
                [{"text": bodies.VERSION_NOTICE}],
                model=model,
                response_id="r-notice",
                finish="STOP",
            )
            step = Step(events=[notice])
        if step.raw is not None:
            self.set_header("Content-Type", "text/event-stream")
            self.finish(step.raw)
            return
        request = body.get("request") or {}
        pool = fake.pool
        if pool is not None and step.events is None:
            decision = pool.admit(account.project_id, model, body, bodies.last_user_text(request))
            if decision.status != 200:
                self.fail(decision.status, decision.body, sse_type=sse_type)
                return
            pool.in_flight[account.project_id] += 1
            try:
                await self._answer(
                    body, model, request, step, decision.delay, decision.cached_tokens
                )
            finally:
                pool.in_flight[account.project_id] -= 1
            return
        await self._answer(body, model, request, step)

    async def _answer(
        self,
        body: dict[str, Any],
        model: str,
        request: dict[str, Any],
        step: Step,
        delay: float = 0.0,
        cached: int = 0,
    ) -> None:
        fake, sse_type = self.fake, self.stream
        if step.events is None:
            try:
                fake_model.validate(model, request, fake.issued_signatures)
            except fake_model.ModelError as exc:
                self.fail(exc.status, exc.body, sse_type=sse_type)
                return
            if (p := fake_claude_rules.check(model, request, fake.claude_thinking)) is not None:
                self.fail(400, fake_claude_rules.error_body(p), sse_type=sse_type)
                return
        events = step.events or fake_model.events(
            model,
            request,
            fake_model.answer(model, request, step.text, fake.issued_signatures),
            fake.issued_signatures,
        )
        fake_claude_rules.remember(model, events, fake.claude_thinking)
        if cached:
            for event in events:
                usage = event["response"].get("usageMetadata")
                if usage is not None:
                    usage["cachedContentTokenCount"] = cached
        if delay:
            await asyncio.sleep(delay)  # the pool model's service time
        if not self.stream:
            if step.hold is not None:
                await step.hold.wait()
                if self.closed:
                    return
            self.finish(json.dumps(fake_model.merge(events)))
            return
        await self._stream(events, step)
        return None

    async def _stream(self, events: list[dict[str, Any]], step: Step) -> None:
        self.set_header("Content-Type", "text/event-stream")
        for i, event in enumerate(events):
            if step.drop_after is not None and i == step.drop_after:
                self.request.connection.detach().close()  # type: ignore[union-attr]
                self._finished = True  # nothing more can be written; don't let Tornado try
                return
            if step.stall_after is not None and i == step.stall_after:
                await self.gone.wait()
                return
            if step.hold is not None and i == step.hold_after:
                await step.hold.wait()
            if self.closed:
                return
            self.write(bodies.sse(event, self.fake.crlf))
            try:
                await self.flush()
            except StreamClosedError:
                return
        self.finish()


class ModelsHandler(FakeHandler):
    def post(self) -> None:
        self.record()
        account = self.check_auth()
        if account is None:
            return
        pool = self.fake.pool
        models = bodies.quota_windows_rolled(self.fake.models, time.time())
        if pool is not None:  # each account's own quota
            models = {
                name: {**info, "quotaInfo": pool.quota_info(account.project_id, name)}
                if "quotaInfo" in info and not info.get("isInternal")
                else info
                for name, info in models.items()
            }
        self.finish({"models": models, "defaultAgentModelId": "gemini-2.5-flash"})


class QuotaSummaryHandler(FakeHandler):
    """retrieveUserQuotaSummary: the pool model's buckets, else every bucket full."""

    def post(self) -> None:
        self.record()
        account = self.check_auth()
        if account is None:
            return
        names = [n for n, info in self.fake.models.items() if not info.get("isInternal")]
        pool = self.fake.pool
        if pool is not None:
            self.finish(pool.summary(account.project_id, names))
            return
        self.finish(full_summary(names, time.time()))


class CountTokensHandler(FakeHandler):
    def post(self) -> None:
        body = self.record()
        if self.check_auth() is None:
            return
        step = self.fake.count_steps.popleft() if self.fake.count_steps else None
        if step is not None and step.status != 200:
            self.fail(step.status, step.body)
            return
        if (problem := fake_claude_rules.count_tokens_problem(body)) is not None:
            self.fail(
                400, {"error": {"code": 400, "message": problem, "status": "INVALID_ARGUMENT"}}
            )
            return
        request = body["request"]
        self.finish({"totalTokens": max(1, len(json.dumps(request.get("contents", []))) // 16)})
