"""``scripts/bench.py --pool``: what each routing strategy, with conversation affinity on and off,
gets out of a pool of accounts.

The fake upstream plays the accounts (``ag2api/testing/fake_pool.py``): each has a quota per model
that every request spends — its uncached prompt tokens, a tenth of those the account has cached
from the conversation's previous turn, and its output — a prompt cache that also makes a cached
turn faster, and a rate limit (more than ``max_concurrent`` calls at once: 429
RATE_LIMIT_EXCEEDED). The real gateway (its services, app and HTTP server, memory backend) sits
in front, in this process. The accounts start unequal (the last has used ``used_at_start`` of
its quota, the others less in proportion). ``conversations`` clients talk at once, each a
conversation that grows by ``words`` words a turn (with its ``prompt_cache_key``, as Codex sends
it) for up to ``turns`` turns, then starts another. ``--rounds N`` repeats every run N times
(in turn) and shows the medians.

Two scenarios, each per strategy x affinity, one run each on a fresh pool:

* **until used up** (:data:`POOL`): no quota comes back within a run, which ends when the gateway
  first answers 429 with a long ``Retry-After``: the pool is used up.
* **resets and credits** (:data:`SCHEDULE_POOL`): each account's quota comes back
  ``reset_period`` seconds after its window opened (the 5-hour window, compressed; the accounts
  are met at different points of it, the most used nearest its reset) and each holds ``credits``;
  the run lasts ``periods`` reset periods, once with ``accounts.use_credits`` off and once on.
  The gateway's 429s (no account can serve now: the client waits its ``Retry-After``) are
  counted as ``pool out``; answers the upstream served on credits as ``on credits``.

Columns:

* ``served`` — answers before the pool was used up, or in the run's time with resets (more is
  better: the cache makes turns cheaper);
* ``on credits``, ``pool out`` — (resets and credits) answers served on credits; the gateway's
  429s to the clients;
* ``same account %`` — turns after a conversation's first that went to the account of its
  previous turn;
* ``upstream 429s / 100`` — 429s the fake answered (rate limits and used-up quotas) per 100
  answers served;
* ``added wait p50 / p99`` — what a client waited beyond the fake's own service time for the
  attempt that answered (failovers, back-offs, waits for a slot, the gateway itself);
* ``cached %`` — prompt tokens the upstream served from its cache.
"""

from __future__ import annotations

import asyncio
import json
import logging
import statistics
import time
import uuid
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx
import yaml
from tornado.httpserver import HTTPServer
from tornado.netutil import bind_sockets

from ag2api.app import make_app
from ag2api.config.live import read_config
from ag2api.config.schema import ROUTING_STRATEGIES
from ag2api.logs.requestlog import LOGGER as REQUEST_LOGGER
from ag2api.services import build_services
from ag2api.testing.fake_google import FAKE_CLIENT_ID, FAKE_CLIENT_SECRET
from ag2api.testing.fake_pool import WINDOW, PoolModel
from ag2api.testing.fake_upstream import FakeUpstream

API_KEY = "sk-bench-pool-0123456789"
MODEL = "gemini-2.5-flash"
# A 429 the client treats as "the pool is used up" (a rate limit says a few seconds at most).
EXHAUSTED_AFTER = 10.0


@dataclass(frozen=True)
class PoolSettings:
    accounts: int = 5
    conversations: int = 10
    turns: int = 30
    words: int = 120
    capacity: float = 120_000.0  # units per account (its quota for the model per window)
    max_concurrent: int = 3  # per account, then RATE_LIMIT_EXCEEDED
    base_latency: float = 0.02
    latency: float = 0.00002  # seconds per uncached prompt token
    quota_refresh: float = 0.5  # observability.quota_refresh_seconds
    # The accounts start unequal, as in life: the last has already used this share of its quota,
    # the others less in proportion (the first none).
    used_at_start: float = 0.6
    # Seconds from a window's opening to its reset; None: the fake's 5 hours (none in a run,
    # which then ends when the pool is used up). Set, the run lasts ``periods`` of them.
    reset_period: float | None = None
    periods: float = 3.0
    credits: float = 0.0  # each account's Google One AI credits (a request spends 10; 0: none)
    strategies: tuple[str, ...] = ROUTING_STRATEGIES


POOL = PoolSettings()
SCHEDULE_POOL = replace(POOL, capacity=40_000.0, reset_period=10.0, periods=3.0, credits=600.0)
# The suite's smoke runs: a few seconds, no rate limit to wait out.
QUICK_POOL = PoolSettings(
    accounts=2,
    conversations=3,
    turns=5,
    words=40,
    capacity=3_000.0,
    max_concurrent=100,
    base_latency=0.002,
    latency=0.0,
)
# Its runs last their periods whatever the machine: the smoke run keeps to one strategy.
QUICK_SCHEDULE_POOL = replace(
    QUICK_POOL,
    capacity=1_500.0,
    reset_period=0.4,
    periods=2.0,
    credits=200.0,
    quota_refresh=0.2,
    strategies=("rotate",),
)


@dataclass
class PoolRow:
    strategy: str
    affinity: bool
    served: int
    same_account_pct: float | None
    upstream_429_per_100: float
    added_wait_p50_ms: float | None
    added_wait_p99_ms: float | None
    cached_pct: float
    client_errors: int  # answers other than 200 or the gateway's 429 (should be 0)
    seconds: float
    credits: bool = False  # accounts.use_credits
    on_credits: int = 0  # answers served on credits
    pool_out: int = 0  # the gateway's 429s: no account could serve then (the client waited)
    resets: int = 0  # account windows whose quota came back during the run


def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class _Run:
    """One strategy x affinity (x credits) on a fresh pool."""

    def __init__(
        self, settings: PoolSettings, strategy: str, affinity: bool, credits: bool, folder: Path
    ) -> None:
        self.s, self.strategy, self.affinity, self.folder = settings, strategy, affinity, folder
        self.credits = credits
        self.done = asyncio.Event()
        self.latency: dict[str, float] = {}  # marker → seconds the client waited
        self.turns: list[tuple[str, int, str]] = []  # (conversation, turn, marker), in order
        self.errors = 0
        self.pool_out = 0

    def _config(self, fake: FakeUpstream) -> Path:
        tokens = self.folder / "tokens.json"
        tokens.write_text(
            json.dumps(
                {
                    "oauth_config": {
                        "client_id": FAKE_CLIENT_ID,
                        "client_secret": FAKE_CLIENT_SECRET,
                        "token_url": fake.token_url,
                    },
                    "projects": [
                        {"project_id": f"pool-project-{i}", "refresh_token": f"pool-rt-{i}"}
                        for i in range(self.s.accounts)
                    ],
                }
            )
        )
        path = self.folder / "gateway.yaml"
        doc = {
            "api_keys": [API_KEY],
            "tokens_file": str(tokens),
            "upstream": {"base_urls": [fake.url]},
            "routing": {"strategy": self.strategy, "affinity": self.affinity},
            "accounts": {"use_credits": self.credits},
            "observability": {
                "quota_refresh_seconds": self.s.quota_refresh,
                "usage_db": str(self.folder / "usage.sqlite3"),
            },
            "watch": {"enabled": False},
            "log_level": "ERROR",
        }
        path.write_text(yaml.safe_dump(doc))
        return path

    async def run(self) -> PoolRow:
        s = self.s
        fake = FakeUpstream()
        fake.pool = pool = PoolModel(
            capacity=s.capacity,
            window=s.reset_period or WINDOW,
            weekly=s.capacity * 100,
            max_concurrent=s.max_concurrent,
            base_latency=s.base_latency,
            latency=s.latency,
        )
        await fake.start()
        now = time.time()
        for i in range(s.accounts):
            project, share = f"pool-project-{i}", i / max(1, s.accounts - 1)
            fake.add_account(f"pool-rt-{i}", project)
            pool.credits[project] = s.credits
            # The more an account has used, the earlier its window opened (with resets in a
            # run: the sooner its quota comes back).
            opened = now - (s.reset_period or 0.0) * i / s.accounts
            pool.open_window(project, MODEL, opened, s.capacity * s.used_at_start * share)
        services = build_services(read_config(self._config(fake), environ={}))
        logging.getLogger(REQUEST_LOGGER).setLevel(logging.CRITICAL)  # no line per request
        sockets = bind_sockets(0, "127.0.0.1")
        server = HTTPServer(make_app(services))
        server.add_sockets(sockets)
        url = f"http://127.0.0.1:{sockets[0].getsockname()[1]}"
        services.quota.start(lambda: s.quota_refresh)
        started = time.monotonic()
        loop = asyncio.get_running_loop()
        if s.reset_period is not None:  # a run of fixed length: the quota keeps coming back
            loop.call_later(s.reset_period * s.periods, self.done.set)
        try:
            limits = httpx.Limits(max_connections=s.conversations * 2)
            async with httpx.AsyncClient(timeout=120, limits=limits) as http:
                await services.quota.refresh()
                talks = [
                    asyncio.ensure_future(self._talk(http, url, c)) for c in range(s.conversations)
                ]
                await self.done.wait()
                # The pool is used up: requests still retrying inside the gateway end now.
                for talk in talks:
                    talk.cancel()
                for outcome in await asyncio.gather(*talks, return_exceptions=True):
                    if not isinstance(outcome, asyncio.CancelledError | type(None)):
                        raise outcome
        finally:
            seconds = time.monotonic() - started
            server.stop()
            await server.close_all_connections()
            await services.aclose()
            await fake.stop()
        return self._row(pool, seconds)

    async def _talk(self, http: httpx.AsyncClient, url: str, client: int) -> None:
        """One client: conversation after conversation until the pool is used up."""
        try:
            await self._conversations(http, url, client)
        finally:
            self.done.set()  # one client cannot go on (or the pool is used up): the run ends

    async def _conversations(self, http: httpx.AsyncClient, url: str, client: int) -> None:
        n = 0
        while not self.done.is_set():
            conversation, messages = f"c{client}-{n}-{uuid.uuid4().hex[:6]}", []
            n += 1
            for turn in range(self.s.turns):
                marker = f"{conversation} t{turn}"
                words = " ".join(f"w{(turn * 7 + i) % 97}" for i in range(self.s.words))
                messages.append({"role": "user", "content": f"[{marker}] {words}"})
                answer = await self._send(http, url, conversation, messages, marker)
                if answer is None:
                    return
                messages.append({"role": "assistant", "content": answer})
                self.turns.append((conversation, turn, marker))

    async def _send(
        self,
        http: httpx.AsyncClient,
        url: str,
        conversation: str,
        messages: list[dict[str, Any]],
        marker: str,
    ) -> str | None:
        body = {"model": MODEL, "messages": messages, "prompt_cache_key": conversation}
        headers = {"Authorization": f"Bearer {API_KEY}"}
        while not self.done.is_set():
            sent = time.monotonic()
            response = await http.post(url + "/v1/chat/completions", json=body, headers=headers)
            if response.status_code == 200:
                self.latency[marker] = time.monotonic() - sent
                return str(response.json()["choices"][0]["message"]["content"])
            wait = float(response.headers.get("retry-after") or 1)
            if response.status_code == 429 and wait >= EXHAUSTED_AFTER:
                self.done.set()  # the pool is used up: the run ends
                return None
            if response.status_code == 429:
                self.pool_out += 1
            else:
                self.errors += 1
            await asyncio.sleep(min(wait, 1.0))
        return None

    def _row(self, pool: PoolModel, seconds: float) -> PoolRow:
        served = {r.marker.split("]", 1)[0].lstrip("["): r for r in pool.served}
        added = [
            max(0.0, self.latency[m] - served[m].service_seconds) * 1000
            for m in self.latency
            if m in served
        ]
        by_turn: dict[tuple[str, int], str] = {
            (c, t): served[m].project for c, t, m in self.turns if m in served
        }
        pairs = [
            (by_turn[c, t - 1], project)
            for (c, t), project in by_turn.items()
            if t > 0 and (c, t - 1) in by_turn
        ]
        same = sum(1 for before, now in pairs if before == now)
        prompt = sum(r.prompt_tokens for r in pool.served)
        cached = sum(r.cached_tokens for r in pool.served)
        count = len(self.latency)
        return PoolRow(
            strategy=self.strategy,
            affinity=self.affinity,
            served=count,
            same_account_pct=round(100 * same / len(pairs), 1) if pairs else None,
            upstream_429_per_100=round(100 * sum(pool.refusals.values()) / max(1, count), 1),
            added_wait_p50_ms=_round(_pct(added, 0.5)),
            added_wait_p99_ms=_round(_pct(added, 0.99)),
            cached_pct=round(100 * cached / max(1, prompt), 1),
            client_errors=self.errors,
            seconds=round(seconds, 2),
            credits=self.credits,
            on_credits=sum(1 for r in pool.served if r.credits),
            pool_out=self.pool_out,
            resets=pool.resets,
        )


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


async def measure_pool(settings: PoolSettings, folder: Path, rounds: int = 1) -> list[PoolRow]:
    """Each strategy, affinity off and on (and, when the accounts hold credits, with
    accounts.use_credits off and on), each on a fresh pool; ``rounds`` times over (in turn, so
    drift hits all alike), each row the median of its rounds."""
    for name in ("ag2api", "tornado.access", "tornado.application", "tornado.general"):
        logging.getLogger(name).setLevel(logging.CRITICAL)
    runs: dict[tuple[bool, str, bool], list[PoolRow]] = {}
    for n in range(rounds):
        for credits in (False, True) if settings.credits else (False,):
            for strategy in settings.strategies:
                for affinity in (False, True):
                    name = f"{n}-{strategy}-{'on' if affinity else 'off'}-{int(credits)}"
                    run_dir = folder / name
                    run_dir.mkdir(parents=True)
                    row = await _Run(settings, strategy, affinity, credits, run_dir).run()
                    runs.setdefault((credits, strategy, affinity), []).append(row)
    return [_median(rows) for rows in runs.values()]


def _median(rows: list[PoolRow]) -> PoolRow:
    if len(rows) == 1:
        return rows[0]

    def mid(name: str) -> Any:
        values = [getattr(r, name) for r in rows if getattr(r, name) is not None]
        return round(statistics.median(values), 1) if values else None

    first = rows[0]
    return PoolRow(
        strategy=first.strategy,
        affinity=first.affinity,
        served=int(mid("served")),
        same_account_pct=mid("same_account_pct"),
        upstream_429_per_100=mid("upstream_429_per_100"),
        added_wait_p50_ms=mid("added_wait_p50_ms"),
        added_wait_p99_ms=mid("added_wait_p99_ms"),
        cached_pct=mid("cached_pct"),
        client_errors=sum(r.client_errors for r in rows),
        seconds=round(sum(r.seconds for r in rows), 2),
        credits=first.credits,
        on_credits=int(mid("on_credits")),
        pool_out=int(mid("pool_out")),
        resets=int(mid("resets")),
    )
