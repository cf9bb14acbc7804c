"""The benchmark's scenarios, results and fixed settings."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BENCH_SCRIPT = ROOT / "scripts" / "bench.py"  # the load generator runs it with --loadgen
API_KEY = "sk-bench-0123456789"
ACCESS_TOKEN = "ya29.bench-pre-issued"
CLOCK = os.sysconf("SC_CLK_TCK")
SCHEMA = 2
CHUNKS = 20
# Raised so every one of the 1000 slow streams is in flight at once (see the docstring).
LIMITS = {"per_account": 1000, "total": 5000, "slot_wait": 30}
SERVER_CONNECTIONS = 4000
UPSTREAM_CONNECTIONS = 2000

LONG_EVENTS = 500  # a long Claude Code answer

# The floors measured beside the gateway (target names): the null relay — the stack's floor — and
# the design card's floor (a RequestHandler relaying through AsyncHTTPClient on curl).
FLOORS = ("floor", "design")

STREAM_50 = "stream, concurrency 50"
NON_STREAM_50 = "non-stream, concurrency 50"
STREAM_1 = "stream, concurrency 1"
LONG = f"{LONG_EVENTS}-event stream (/v1/messages), concurrency 50"
SLOW = "1000 slow streams"


@dataclass(frozen=True)
class Route:
    """How the load generator asks one client API, and how it knows the answer came whole."""

    path: str
    body: dict[str, object]
    stream_end: bytes  # in a streamed answer
    whole_mark: bytes  # in a non-stream one


ROUTES = {
    "chat": Route(
        "/v1/chat/completions",
        {"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": "benchmark"}]},
        b"[DONE]",
        b'"choices"',
    ),
    # Claude Code's API: what its long answers go through.
    "messages": Route(
        "/v1/messages",
        {
            "model": "gemini-2.5-flash",
            "max_tokens": 1024,
            "messages": [{"role": "user", "content": "benchmark"}],
        },
        b"message_stop",
        b'"content"',
    ),
}


@dataclass
class Scenario:
    name: str
    stream: bool
    concurrency: int
    requests: int
    interval: float = 0.0  # seconds between upstream chunks (slow streams)
    # Also measure the two floors: the null relay (floor.py) and the design card's (card_floor.py).
    floor: bool = False
    events: int = CHUNKS  # events in the upstream's answer
    route: str = "chat"  # a key of ROUTES


@dataclass
class Result:
    scenario: str
    target: str
    requests: int
    errors: int
    seconds: float
    rps: float
    ttft_p50_ms: float | None
    ttft_p99_ms: float | None
    cpu_ms_per_request: float | None
    rss_mib: float | None
    rss_growth_kib_per_stream: float | None = None
    # The redis backend's cost per request: round trips (scripts), commands Redis ran, its CPU.
    redis_round_trips_per_request: float | None = None
    redis_commands_per_request: float | None = None
    redis_cpu_ms_per_request: float | None = None
    # Schema 2: the upstream's CPU while serving the gateway run, streams open at once, rounds.
    upstream_cpu_ms_per_request: float | None = None
    open_streams_peak: int | None = None
    rounds: int = 1
    rps_runs: list[float] = field(default_factory=list)
    rps_spread_pct: float | None = None
    # Events in each upstream answer, and the CPU per event (cpu_ms_per_request / events).
    events_per_request: int | None = None
    cpu_us_per_event: float | None = None


FULL = [
    Scenario(STREAM_1, True, 1, 300),
    Scenario(STREAM_50, True, 50, 3000, floor=True),
    Scenario("stream, concurrency 500", True, 500, 5000),
    Scenario(NON_STREAM_50, False, 50, 3000, floor=True),
    Scenario(LONG, True, 50, 300, floor=True, events=LONG_EVENTS, route="messages"),
    Scenario(SLOW, True, 1000, 1000, interval=0.5),  # 9.5 s each: all open at once
]
# A smoke run (the test suite's): every path once, in a few seconds.
QUICK = [
    Scenario(STREAM_50, True, 50, 100),
    Scenario(NON_STREAM_50, False, 50, 100),
    Scenario(LONG, True, 10, 10, events=LONG_EVENTS, route="messages"),
]
REDIS_SCENARIOS = [Scenario(STREAM_50, True, 50, 3000)]
# Enough requests for the first and the last 50 (no pick before or after them) to count little.
REDIS_QUICK = [Scenario(STREAM_50, True, 50, 300)]
BACKENDS = (
    ("memory, 1 worker", False, 1),
    ("redis, 1 worker", True, 1),
    ("redis, 2 workers", True, 2),
)
