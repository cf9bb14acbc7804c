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
it) for up to ``turns`` turns, then starts another. A run ends when the gateway first answers
429 with a long ``Retry-After``: the pool is used up. ``--rounds N`` repeats every run N times
(in turn) and shows the medians.

Per strategy x affinity, one run each on a fresh pool:

* ``served`` — answers before the pool was used up (more is better: the cache makes turns cheaper);
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
from dataclasses import asdict, dataclass
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
from ag2api.testing.fake_pool import PoolModel
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
    capacity: float = 120_000.0  # units per account (its 5-hour quota for the model)
    max_concurrent: int = 3  # per account, then RATE_LIMIT_EXCEEDED
    base_latency: float = 0.02
    latency: float = 0.00002  # seconds per uncached prompt token
    quota_refresh: float = 0.5  # observability.quota_refresh_seconds
    # The accounts start unequal, as in life: the last has already used this share of its quota,
    # the others less in proportion (the first none).
    used_at_start: float = 0.6


# The suite's smoke run: a few seconds, no rate limit to wait out.
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
    client_errors: int  # answers other than 200 before the pool was used up (should be 0)
    seconds: float


def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class _Run:
    """One strategy x affinity on a fresh pool."""

    def __init__(self, settings: PoolSettings, strategy: str, affinity: bool, folder: Path):
        self.s, self.strategy, self.affinity, self.folder = settings, strategy, affinity, folder
        self.done = asyncio.Event()
        self.latency: dict[str, float] = {}  # marker → seconds the client waited
        self.turns: list[tuple[str, int, str]] = []  # (conversation, turn, marker), in order
        self.errors = 0

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
            weekly=s.capacity * 100,
            max_concurrent=s.max_concurrent,
            base_latency=s.base_latency,
            latency=s.latency,
        )
        await fake.start()
        for i in range(s.accounts):
            fake.add_account(f"pool-rt-{i}", f"pool-project-{i}")
            pool.spend(
                f"pool-project-{i}",
                MODEL,
                s.capacity * s.used_at_start * i / max(1, s.accounts - 1),
            )
        services = build_services(read_config(self._config(fake), environ={}))
        logging.getLogger(REQUEST_LOGGER).setLevel(logging.CRITICAL)  # no line per request
        sockets = bind_sockets(0, "127.0.0.1")
        server = HTTPServer(make_app(services))
        server.add_sockets(sockets)
        url = f"http://127.0.0.1:{sockets[0].getsockname()[1]}"
        services.quota.start(lambda: s.quota_refresh)
        started = time.monotonic()
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
            self.strategy,
            self.affinity,
            count,
            round(100 * same / len(pairs), 1) if pairs else None,
            round(100 * sum(pool.refusals.values()) / max(1, count), 1),
            _round(_pct(added, 0.5)),
            _round(_pct(added, 0.99)),
            round(100 * cached / max(1, prompt), 1),
            self.errors,
            round(seconds, 2),
        )


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


async def measure_pool(settings: PoolSettings, folder: Path, rounds: int = 1) -> list[PoolRow]:
    """Every strategy, affinity off and on, each on a fresh pool; ``rounds`` times over (in
    turn, so drift hits all alike), each row the median of its rounds."""
    for name in ("ag2api", "tornado.access", "tornado.application", "tornado.general"):
        logging.getLogger(name).setLevel(logging.CRITICAL)
    runs: dict[tuple[str, bool], list[PoolRow]] = {}
    for n in range(rounds):
        for strategy in ROUTING_STRATEGIES:
            for affinity in (False, True):
                run_dir = folder / f"{n}-{strategy}-{'on' if affinity else 'off'}"
                run_dir.mkdir(parents=True)
                row = await _Run(settings, strategy, affinity, run_dir).run()
                runs.setdefault((strategy, affinity), []).append(row)
    return [_median(rows) for rows in runs.values()]


def _median(rows: list[PoolRow]) -> PoolRow:
    if len(rows) == 1:
        return rows[0]

    def mid(name: str) -> Any:
        values = [getattr(r, name) for r in rows if getattr(r, name) is not None]
        return round(statistics.median(values), 1) if values else None

    first = rows[0]
    return PoolRow(
        first.strategy,
        first.affinity,
        int(mid("served")),
        mid("same_account_pct"),
        mid("upstream_429_per_100"),
        mid("added_wait_p50_ms"),
        mid("added_wait_p99_ms"),
        mid("cached_pct"),
        sum(r.client_errors for r in rows),
        round(sum(r.seconds for r in rows), 2),
    )


def pool_table(rows: list[PoolRow], settings: PoolSettings) -> str:
    head = (
        "strategy", "affinity", "served", "same account %", "upstream 429s / 100",
        "added wait p50 ms", "added wait p99 ms", "cached %",
    )  # fmt: skip
    lines = [
        f"{settings.accounts} accounts, {settings.conversations} conversations at once, up to "
        f"{settings.turns} turns of +{settings.words} words each, "
        f"{settings.max_concurrent} calls at once per account",
        "| " + " | ".join(head) + " |",
        "|" + "---|" * len(head),
    ]
    for r in rows:
        cells = (
            r.strategy, "on" if r.affinity else "off", r.served, r.same_account_pct,
            r.upstream_429_per_100, r.added_wait_p50_ms, r.added_wait_p99_ms, r.cached_pct,
        )  # fmt: skip
        lines.append("| " + " | ".join("-" if c is None else str(c) for c in cells) + " |")
    return "\n".join(lines)


def pool_json(rows: list[PoolRow], settings: PoolSettings) -> dict[str, Any]:
    return {"settings": asdict(settings), "rows": [asdict(r) for r in rows]}
