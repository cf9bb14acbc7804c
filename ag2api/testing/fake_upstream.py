"""An in-process fake of the Antigravity backend and Google's token endpoint (docs/protocol.md
§9).

Used by the tests and by ``ag2api --demo``. It checks what the real server checks (bearer token,
project, model, client version), answers with the protocol's literal error bodies, and can be
scripted per request: an error status, custom events, a drop or a stall mid-stream, a held stream.
Its content filter (off unless set) refuses chosen system prompts as the real backend does.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tornado.httpserver import HTTPServer
from tornado.iostream import StreamClosedError
from tornado.netutil import bind_sockets
from tornado.web import Application

from ag2api.testing import fake_bodies as bodies
from ag2api.testing import fake_claude_rules, fake_filter, fake_model
from ag2api.testing.fake_base import FakeHandler, Recorded
from ag2api.testing.fake_bench import (
    BenchAnswer,
    BenchGenerateHandler,
    DirectChatHandler,
    DirectMessagesHandler,
)
from ag2api.testing.fake_google import (
    FAKE_CLIENT_ID,
    FAKE_CLIENT_SECRET,
    ApproveHandler,
    ConsentHandler,
    FileHandler,
    LoadCodeAssistHandler,
    OnboardHandler,
    TokenHandler,
    UserInfoHandler,
)
from ag2api.testing.fake_pool import PoolModel, full_summary

_VERSION_RE = re.compile(r"antigravity/(?:[a-z]+/)?(\d+)\.(\d+)\.(\d+)")


@dataclass
class Step:
    """What the fake does with the next generate request (optionally only on one host).

    ``status``/``body``: answer with that error. ``events``: stream these (Gemini response dicts).
    ``text``: the default answer shape with this text. ``drop_after``: close the connection after
    that many events. ``hold``: after ``hold_after`` events (a whole answer: before it) wait for the
    event before going on.
    ``stall_after``: send that many events, then nothing until the client goes away.
    ``raw``: a 200 body sent as is.
    """

    status: int = 200
    body: Any = None
    events: list[dict[str, Any]] | None = None
    text: str | None = None
    drop_after: int | None = None
    hold: asyncio.Event | None = None
    hold_after: int = 1
    stall_after: int | None = None
    raw: bytes | None = None
    host: str | None = None
    delay: float = 0.0


@dataclass
class FakeAccount:
    refresh_token: str
    project_id: str
    email: str
    revoked: bool = False
    needs_onboarding: bool = False
    onboard_calls: int = 0
    # The OAuth client its refresh token belongs to (None: the fake's own client).
    client_id: str | None = None
    # Google wants the person to verify it: generation answers 403 VALIDATION_REQUIRED and
    # loadCodeAssist lists it as ineligible, until this is set back to False.
    needs_verification: bool = False


@dataclass
class FakeUpstream:
    min_version: tuple[int, int, int] | None = None
    version_mode: str = "error"  # or "text": a 200 answer whose text is the notice
    crlf: bool = False
    token_ttl: int = 3599
    # Refreshes answer with a new refresh token and revoke the old one (Google may rotate).
    rotate_refresh_tokens: bool = False
    models: dict[str, dict[str, Any]] = field(default_factory=lambda: dict(bodies.DEFAULT_MODELS))
    accounts: dict[str, FakeAccount] = field(default_factory=dict)
    tokens: dict[str, tuple[str, float]] = field(default_factory=dict)
    refresh_calls: Counter[str] = field(default_factory=Counter)
    requests: list[Recorded] = field(default_factory=list)
    steps: deque[Step] = field(default_factory=deque)
    count_steps: deque[Step] = field(default_factory=deque)  # countTokens: error answers to give
    token_gate: asyncio.Event | None = None
    token_requested: asyncio.Event = field(default_factory=asyncio.Event)
    urls: list[str] = field(default_factory=list)
    codes: dict[str, tuple[str, str, str]] = field(default_factory=dict)
    # OAuth clients the token endpoint accepts: id → secret.
    clients: dict[str, str] = field(default_factory=lambda: {FAKE_CLIENT_ID: FAKE_CLIENT_SECRET})
    # Called for requests no scripted step covers: a fault to inject, or None (soak tests).
    chaos: Callable[[Any], Step | None] | None = None
    issued_signatures: set[str] = field(default_factory=set)
    # Claude thinking the fake issued: signature → thinking text (fake_claude_rules).
    claude_thinking: dict[str, str] = field(default_factory=dict)
    onboard_polls: int = 1  # onboardUser answers done=false this many times first
    # The content filter (fake_filter): phrases, or tuples of phrases that must all occur, whose
    # presence in an agent request's system instruction gets the bare 429. Off by default.
    content_filter: tuple[str | tuple[str, ...], ...] = ()
    content_rejections: int = 0  # generate requests the filter refused
    # Quota, prompt cache, credits and rate limits per account (fake_pool); None: unlimited.
    pool: PoolModel | None = None
    _waiters: list[tuple[int, asyncio.Future[None]]] = field(default_factory=list)
    closed_streams: int = 0
    stream_closed: asyncio.Event = field(default_factory=asyncio.Event)
    _servers: list[HTTPServer] = field(default_factory=list)

    # -- set-up ------------------------------------------------------------------------
    def add_account(self, refresh_token: str, project_id: str, email: str = "") -> FakeAccount:
        acc = FakeAccount(refresh_token, project_id, email or f"{project_id}@example.com")
        self.accounts[refresh_token] = acc
        return acc

    def issue_token(self, refresh_token: str, ttl: float | None = None) -> str:
        token = f"ya29.fake-{uuid.uuid4().hex}"
        self.tokens[token] = (refresh_token, time.time() + (self.token_ttl if ttl is None else ttl))
        return token

    def authorize(self, auth_url: str, refresh_token: str, *, deny: bool = False) -> str:
        """Play Google's consent page: the redirect address the browser would be sent to."""
        query = {k: v[0] for k, v in parse_qs(urlsplit(auth_url).query).items()}
        if deny:
            return f"{query['redirect_uri']}?error=access_denied&state={query['state']}"
        code = f"4/fake-code-{uuid.uuid4().hex}"
        self.codes[code] = (refresh_token, query["code_challenge"], query["redirect_uri"])
        return f"{query['redirect_uri']}?state={query['state']}&code={code}&scope=x"

    def revoke_tokens(self, refresh_token: str) -> None:
        """Invalidate every access token of an account (upstream answers 401)."""
        for token, (owner, _) in list(self.tokens.items()):
            if owner == refresh_token:
                del self.tokens[token]

    def script(self, *steps: Step) -> None:
        self.steps.extend(steps)

    def next_step(self, host: str) -> Step | None:
        for step in self.steps:
            if step.host in (None, host):
                self.steps.remove(step)
                return step
        return None

    @property
    def url(self) -> str:
        return self.urls[0]

    @property
    def token_url(self) -> str:
        return self.urls[0] + "/token"

    def note(self, recorded: Recorded) -> None:
        self.requests.append(recorded)
        count = len(self.generate_requests())
        for n, waiter in list(self._waiters):
            if count >= n and not waiter.done():
                waiter.set_result(None)
                self._waiters.remove((n, waiter))

    async def wait_generate_requests(self, n: int) -> None:
        """Return once ``n`` generate requests have arrived (without polling)."""
        if len(self.generate_requests()) < n:
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append((n, waiter))
            await waiter

    def generate_requests(self) -> list[Recorded]:
        return [
            r for r in self.requests if "GenerateContent" in r.path or "generateContent" in r.path
        ]

    async def start(
        self,
        hosts: int = 1,
        address: str = "127.0.0.1",
        port: int = 0,
        bench: BenchAnswer | None = None,
        ssl_options: Any = None,
    ) -> None:
        """Listen on ``hosts`` ports; with ``bench``, serve its fixed answer as fast as possible."""
        scheme = "https" if ssl_options else "http"
        for i in range(hosts):
            label = chr(ord("a") + i)
            routes = _bench_routes() if bench else _routes()
            app = Application(routes, fake=self, host_label=label, bench=bench)
            sockets = bind_sockets(port if i == 0 else 0, address)
            server = HTTPServer(app, ssl_options=ssl_options)
            server.add_sockets(sockets)
            self._servers.append(server)
            self.urls.append(f"{scheme}://{address}:{sockets[0].getsockname()[1]}")

    async def stop(self) -> None:
        for server in self._servers:
            server.stop()
            await server.close_all_connections()
        self._servers.clear()

    # -- checks shared by the handlers ---------------------------------------------------
    def account_for(self, authorization: str) -> FakeAccount | None:
        token = authorization[7:] if authorization.startswith("Bearer ") else ""
        owner = self.tokens.get(token)
        if owner is None or owner[1] < time.time():
            return None
        return self.accounts.get(owner[0])

    def version_ok(self, user_agent: str) -> bool:
        if self.min_version is None:
            return True
        match = _VERSION_RE.search(user_agent)
        if match is None:
            return False
        return tuple(int(x) for x in match.groups()) >= self.min_version


def _bench_routes() -> list[Any]:
    return [
        (r"/v1internal:streamGenerateContent", BenchGenerateHandler, {"stream": True}),
        (r"/v1internal:generateContent", BenchGenerateHandler, {"stream": False}),
        (r"/v1/chat/completions", DirectChatHandler),
        (r"/v1/messages", DirectMessagesHandler),
        *[r for r in _routes() if not r[0].endswith("GenerateContent")],
    ]


def _routes() -> list[Any]:
    return [
        (r"/v1internal:streamGenerateContent", GenerateHandler, {"stream": True}),
        (r"/v1internal:generateContent", GenerateHandler, {"stream": False}),
        (r"/v1internal:fetchAvailableModels", ModelsHandler),
        (r"/v1internal:retrieveUserQuotaSummary", QuotaSummaryHandler),
        (r"/v1internal:loadCodeAssist", LoadCodeAssistHandler),
        (r"/v1internal:onboardUser", OnboardHandler),
        (r"/v1internal:countTokens", CountTokensHandler),
        (r"/token", TokenHandler),
        (r"/oauth2/v2/userinfo", UserInfoHandler),
        (r"/o/oauth2/v2/auth", ConsentHandler),
        (r"/o/oauth2/v2/auth/approve", ApproveHandler),
        (r"/files/(.+)", FileHandler),
    ]


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
