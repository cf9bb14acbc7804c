"""The fake Google's state and behaviour, apart from the servers that expose it: the endpoints
(``fake_google``, ``fake_generate``) read and change a :class:`FakeBackend`, and
``fake_upstream`` serves one over HTTP."""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

from ag2api.testing import fake_bodies as bodies
from ag2api.testing.fake_pool import PoolModel

# The OAuth client the fake token endpoint knows (tests write it into tokens.json).
FAKE_CLIENT_ID = "fake-client-id.apps.googleusercontent.com"
FAKE_CLIENT_SECRET = "fake-client-secret"

_VERSION_RE = re.compile(r"antigravity/(?:[a-z]+/)?(\d+)\.(\d+)\.(\d+)")


@dataclass
class Recorded:
    host: str
    path: str
    headers: dict[str, str]
    body: Any
    peer: tuple[str, int] | None = None  # the client's address: shows connection reuse


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
class FakeBackend:
    """What the fake Google knows and does, whichever endpoint is asked: accounts, tokens, the
    scripted steps, what it was sent (``fake_upstream.FakeUpstream`` serves it)."""

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
