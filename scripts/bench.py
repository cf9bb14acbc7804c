#!/usr/bin/env python3
"""Benchmark ag2api against the upstream itself, in the same run.

    python scripts/bench.py            # the full run (several minutes)
    python scripts/bench.py --quick    # a few seconds; the test suite runs this
    python scripts/bench.py --json     # machine-readable results (schema below)
    python scripts/bench.py --tls      # the fake upstream serves HTTPS (self-signed)
    python scripts/bench.py --redis    # the redis backend and server.workers 1 vs 2 (also --quick)
    python scripts/bench.py --profile gateway.svg   # py-spy profile of the gateway, stream c=50

Each part runs in its own process on loopback: the upstream, the real gateway with a real config
in front of it, and an async load generator. Every scenario is measured through the gateway and
straight from the upstream, which serves the same answer in OpenAI format — the no-gateway limit
("direct"); ratios compare the two. The runs alternate (direct, gateway, direct, gateway: A B A B,
``--rounds N``, 2 by default, 1 with --quick) so drift hits both; each row is the median of its
rounds, with the spread of req/s across them. The script reports; it does not fail on a missed
target (only on errors, with --quick).

The built-in upstream is ``python -m ag2api.testing.run_fake --bench-chunks 20`` (recording off):
one fixed 20-chunk answer costing what Google's does — running ``usageMetadata`` on every event
and gzip when the gateway accepts it (``--no-gzip`` / ``--no-usage`` make it lighter). Its CPU
is read from /proc during the gateway runs too, for the "gateway CPU ≤ upstream CPU" target.

External upstream: ``--upstream URL`` benchmarks the gateway in front of any process speaking
v1internal (another fake, a recorded-answer server). The gateway gets a tokens.json with a
pre-issued access token (``--access-token``, expiring in ten years: no OAuth refresh) for each
``--project`` (repeatable; default one dummy). ``--upstream-pid PID`` lets the bench read that
process's CPU; ``--direct URL`` is the same answer in OpenAI format (its CPU is read too when it is
served on the upstream's host:port); without it the ratios are "not measured". The slow-stream
scenario needs the built-in fake's pacing and is skipped. The fake itself can play the external
process:

    python -m ag2api.testing.run_fake --bench-chunks 20 --port 9100 --access-token ya29.bench &
    python scripts/bench.py --upstream http://127.0.0.1:9100 --upstream-pid $! \\
        --access-token ya29.bench --direct http://127.0.0.1:9100/v1/chat/completions

The gateway's limits are raised so all 1000 slow streams are in flight at once (per_account 1000,
total 5000, slot_wait 30 s, 4000 client and 2000 upstream connections); with the defaults (32 per
account) most of 1,000 simultaneous streams get 503 after ``limits.slot_wait`` — by design.

``--profile OUT`` runs the stream c=50 load through the gateway while ``py-spy record`` samples
the gateway process for ``--profile-seconds`` and writes OUT (``--profile-format``: flamegraph
svg, speedscope or raw collapsed stacks; ``--profile-native`` adds native frames).

``--json`` prints ``{"schema": 2, "meta", "results", "targets", "backend"}``, stable across commits:

* ``meta``: ``commit`` and ``dirty`` (git, or null), ``python``, ``tornado``, ``libcurl``,
  ``platform``, ``cpus``, ``loadavg_start``/``loadavg_end`` (1/5/15 min), ``started`` (UTC),
  ``settings`` (``rounds``, ``quick``, ``tls``, ``upstream`` ("fake" or the URL), ``gzip``,
  ``usage_every_event``, ``chunks``, ``limits``).
* ``results``: one object per (scenario, target). ``scenario``; ``target`` ("direct" or
  "gateway"); ``requests`` (per round); ``errors`` (all rounds); medians over the rounds of
  ``seconds``, ``rps``, ``ttft_p50_ms``, ``ttft_p99_ms``, ``cpu_ms_per_request`` (the measured
  process and its children: the gateway, or the upstream for "direct"), ``rss_mib`` (the same
  processes, the highest seen), ``rss_growth_kib_per_stream`` (slow streams; a fresh gateway
  each round, the direct rows' from their first round),
  ``redis_round_trips_per_request``, ``redis_commands_per_request``,
  ``redis_cpu_ms_per_request`` (redis rows) and ``upstream_cpu_ms_per_request`` (the upstream's
  CPU while it served the gateway run); ``open_streams_peak`` (streams open at once in the load
  generator — first chunk in, last not yet — the fewest over the rounds); ``rounds``;
  ``rps_runs`` (each round's req/s); ``rps_spread_pct`` ((max - min) / median; null for one
  round). Null means not measured.
* ``targets``: ``[{"target", "value", "met"}]`` (``met`` null when not measured).
* ``backend``: null, or with the redis scenarios ``workers_1_to_2_rps`` (redis, 2 workers ÷
  1 worker), ``redis_added_cpu_ms_per_request`` (gateway CPU, redis 1 worker - memory 1 worker),
  ``redis_round_trips_per_request``, ``redis_cpu_ms_per_request``.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import os
import platform
import resource
import shutil
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
API_KEY = "sk-bench-0123456789"
ACCESS_TOKEN = "ya29.bench-pre-issued"
CLOCK = os.sysconf("SC_CLK_TCK")
SCHEMA = 2
CHUNKS = 20
# Raised so every one of the 1000 slow streams is in flight at once (see the docstring).
LIMITS = {"per_account": 1000, "total": 5000, "slot_wait": 30}
SERVER_CONNECTIONS = 4000
UPSTREAM_CONNECTIONS = 2000

STREAM_50 = "stream, concurrency 50"
NON_STREAM_50 = "non-stream, concurrency 50"
STREAM_1 = "stream, concurrency 1"
SLOW = "1000 slow streams"


@dataclass
class Scenario:
    name: str
    stream: bool
    concurrency: int
    requests: int
    interval: float = 0.0  # seconds between upstream chunks (slow streams)


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


FULL = [
    Scenario(STREAM_1, True, 1, 300),
    Scenario(STREAM_50, True, 50, 3000),
    Scenario("stream, concurrency 500", True, 500, 5000),
    Scenario(NON_STREAM_50, False, 50, 3000),
    Scenario(SLOW, True, 1000, 1000, interval=0.5),  # 9.5 s each: all open at once
]
# A smoke run (the test suite's): every path once, in a few seconds.
QUICK = [
    Scenario(STREAM_50, True, 50, 100),
    Scenario(NON_STREAM_50, False, 50, 100),
]
REDIS_SCENARIOS = [Scenario(STREAM_50, True, 50, 3000)]
REDIS_QUICK = [Scenario(STREAM_50, True, 50, 100)]
BACKENDS = (
    ("memory, 1 worker", False, 1),
    ("redis, 1 worker", True, 1),
    ("redis, 2 workers", True, 2),
)


# -- the load generator (its own process) ------------------------------------------------------
async def one_connection(
    url: str,
    body: bytes,
    stream: bool,
    jobs: list[int],
    ttfts: list[float],
    errors: list[str],
    ctx: ssl.SSLContext | None,
    gauge: list[int],
) -> None:
    """Run jobs over one keep-alive connection; ``gauge`` is [streams open now, most at once]."""
    parts = urlsplit(url)
    head = (
        f"POST {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
        f"Authorization: Bearer {API_KEY}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    reader, writer = await asyncio.open_connection(
        parts.hostname, parts.port, ssl=ctx, limit=1 << 20
    )
    is_open = False
    try:
        while jobs:
            jobs.pop()
            started = time.perf_counter()
            writer.write(head + body)
            status = await reader.readline()
            chunked, length = False, 0
            while (line := await reader.readline()) not in (b"\r\n", b""):
                name, _, value = line.decode("latin-1").partition(":")
                if name.lower() == "transfer-encoding" and "chunked" in value:
                    chunked = True
                elif name.lower() == "content-length":
                    length = int(value)
            first: float | None = None
            data = bytearray()
            if chunked:
                while True:
                    size = int((await reader.readline()).split(b";")[0], 16)
                    if size == 0:
                        await reader.readline()
                        break
                    data += await reader.readexactly(size + 2)
                    if first is None:
                        first = time.perf_counter()
                        is_open = True
                        gauge[0] += 1
                        gauge[1] = max(gauge[1], gauge[0])
                if is_open:
                    is_open = False
                    gauge[0] -= 1
            else:
                data += await reader.readexactly(length)
                first = time.perf_counter()
            ok = b" 200 " in status and (b"[DONE]" in data if stream else b'"choices"' in data)
            if not ok:
                errors.append(f"{status!r} {bytes(data[:200])!r}")
            elif first is not None:
                ttfts.append(first - started)
    except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
        errors.append(repr(exc))
    finally:
        if is_open:
            gauge[0] -= 1
        writer.close()


async def load(
    url: str,
    stream: bool,
    concurrency: int,
    requests: int,
    cafile: str | None,
) -> dict[str, Any]:
    body = json.dumps(
        {
            "model": "gemini-2.5-flash",
            "stream": stream,
            "messages": [{"role": "user", "content": "benchmark"}],
        }
    ).encode()
    ctx = ssl.create_default_context(cafile=cafile) if url.startswith("https") else None
    jobs = list(range(requests))
    ttfts: list[float] = []
    errors: list[str] = []
    gauge = [0, 0]
    started = time.perf_counter()
    await asyncio.gather(
        *(
            one_connection(url, body, stream, jobs, ttfts, errors, ctx, gauge)
            for _ in range(min(concurrency, requests))
        )
    )
    seconds = time.perf_counter() - started
    ttfts.sort()
    return {
        "seconds": seconds,
        "done": len(ttfts),
        "errors": len(errors),
        "error_sample": errors[:3],
        "ttft_p50": statistics.median(ttfts) if ttfts else None,
        "ttft_p99": ttfts[min(len(ttfts) - 1, int(len(ttfts) * 0.99))] if ttfts else None,
        "open_peak": gauge[1] if stream else None,
    }


# -- process helpers ----------------------------------------------------------------------------
def raise_file_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else 65536
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


def cpu_ticks(pid: int) -> int:
    """CPU of ``pid`` and its child processes (the workers of server.workers)."""
    fields_ = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    children = Path(f"/proc/{pid}/task/{pid}/children")
    kids = [int(c) for c in children.read_text().split()] if children.exists() else []
    return int(fields_[11]) + int(fields_[12]) + sum(cpu_ticks(k) for k in kids)


def rss_kib(pid: int) -> int:
    """Resident memory of ``pid`` and its child processes (each worker's own heap counts)."""
    own = 0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            own = int(line.split()[1])
            break
    children = Path(f"/proc/{pid}/task/{pid}/children")
    kids = [int(c) for c in children.read_text().split()] if children.exists() else []
    return own + sum(rss_kib(k) for k in kids)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def spawn(
    args: list[str], pattern: str, env: dict[str, str] | None = None
) -> tuple[subprocess.Popen[str], str]:
    """Start a child and return it with its first output line containing ``pattern``."""
    proc = subprocess.Popen(
        args,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
    )
    assert proc.stdout is not None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        if pattern in line:
            # Keep draining so a chatty child never blocks on a full pipe.
            threading.Thread(target=_drain, args=(proc.stdout,), daemon=True).start()
            return proc, line
    proc.kill()
    raise RuntimeError(f"{args[0:3]} did not start")


def _drain(stream: Any) -> None:
    for _ in stream:
        pass


def stop(proc: subprocess.Popen[str]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()


def make_cert(folder: Path) -> tuple[str, str]:
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
            *("-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"),
            *("-keyout", str(key), "-out", str(cert)),
        ],
        check=True,
        capture_output=True,
    )
    return str(cert), str(key)


class RedisStats:
    """A private redis-server for the redis scenarios, and its counters."""

    def __init__(self, folder: Path) -> None:
        import redis

        binary = shutil.which("redis-server") or "/usr/sbin/redis-server"
        self.port = _free_port()
        self.proc = subprocess.Popen(
            [
                binary,
                *("--port", str(self.port), "--bind", "127.0.0.1", "--save", ""),
                *("--dir", str(folder), "--appendonly", "no"),
            ],
            stdout=subprocess.DEVNULL,
        )
        self.client = redis.Redis(port=self.port)
        deadline = time.monotonic() + 10
        while True:
            try:
                self.client.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def counters(self) -> tuple[int, int, float]:
        """(round trips, commands, CPU seconds) so far. The gateway's hot path talks to Redis
        only through scripts (EVALSHA), so those are its round trips; commands count the ones
        inside the scripts too."""
        stats = self.client.info("commandstats")
        trips = sum(int(v["calls"]) for k, v in stats.items() if k.startswith("cmdstat_eval"))
        info = self.client.info()
        commands = int(info["total_commands_processed"]) - 2  # minus these INFOs
        return trips, commands, float(info["used_cpu_sys"]) + float(info["used_cpu_user"])

    def close(self) -> None:
        self.client.close()
        self.proc.terminate()
        self.proc.wait(10)


def redis_available() -> bool:
    try:
        import redis  # noqa: F401
    except ImportError:
        return False
    return bool(shutil.which("redis-server") or Path("/usr/sbin/redis-server").exists())


# -- the processes under test -------------------------------------------------------------------
@dataclass
class Upstream:
    """What the gateway calls: the built-in fake (our child) or an external process."""

    url: str  # speaks v1internal
    pid: int | None  # for /proc CPU; None: not measured
    direct_url: str | None  # the same answer in OpenAI format; None: no ratios
    direct_pid: int | None
    cafile: str | None
    tokens: dict[str, Any]  # the gateway's tokens.json
    proc: subprocess.Popen[str] | None = None
    ask_gzip: bool = False  # the gateway's upstream.gzip (--gateway-gzip)

    def close(self) -> None:
        if self.proc is not None:
            stop(self.proc)


def start_fake(interval: float, cert: tuple[str, str] | None, gzip: bool, usage: bool) -> Upstream:
    args = [sys.executable, "-m", "ag2api.testing.run_fake", "--bench-chunks", str(CHUNKS)]
    args += ["--interval", str(interval)]
    args += ([] if gzip else ["--no-gzip"]) + ([] if usage else ["--no-usage"])
    if cert:
        args += ["--cert", cert[0], "--key", cert[1]]
    proc, line = spawn(args, '"url"')
    info = json.loads(line)
    tokens = {
        "oauth_config": {
            "client_id": info["client_id"],
            "client_secret": info["client_secret"],
            "token_url": info["token_url"],
        },
        "projects": [{**a, "enabled": True} for a in info["accounts"]],
    }
    return Upstream(
        url=info["url"],
        pid=proc.pid,
        direct_url=info["url"] + "/v1/chat/completions",
        direct_pid=proc.pid,
        cafile=cert[0] if cert else None,
        tokens=tokens,
        proc=proc,
    )


def external_upstream(args: argparse.Namespace) -> Upstream:
    """The tokens.json holds a pre-issued access token far from expiry: no OAuth refresh."""
    url = args.upstream.rstrip("/")
    expires = int(time.time()) + 10 * 365 * 86400
    projects = args.project or ["bench-project-0"]
    tokens = {
        # Never called (the token does not expire); a closed loopback port if it ever were.
        "oauth_config": {
            "client_id": "bench",
            "client_secret": "bench",
            "token_url": "http://127.0.0.1:9/token",
        },
        "projects": [
            {
                "project_id": project,
                "refresh_token": f"bench-refresh-{i}",
                "access_token": args.access_token,
                "expires_at": expires,
                "enabled": True,
            }
            for i, project in enumerate(projects)
        ],
    }
    direct = args.direct
    if direct and urlsplit(direct).path in ("", "/"):
        direct = direct.rstrip("/") + "/v1/chat/completions"
    same_process = direct is not None and urlsplit(direct).netloc == urlsplit(url).netloc
    return Upstream(
        url=url,
        pid=args.upstream_pid,
        direct_url=direct,
        direct_pid=args.upstream_pid if same_process else None,
        cafile=args.upstream_ca,
        tokens=tokens,
    )


class Gateway:
    """The real gateway (``python -m ag2api``) with a real config, in front of ``upstream``."""

    def __init__(
        self,
        folder: Path,
        upstream: Upstream,
        redis_url: str | None = None,
        workers: int = 1,
    ) -> None:
        home = Path(tempfile.mkdtemp(prefix="gateway-", dir=folder))
        tokens = home / "tokens.json"
        tokens.write_text(json.dumps(upstream.tokens))
        config = home / "gateway.yaml"
        config.write_text(
            json.dumps(
                {
                    "server": {
                        "port": 0,
                        "keepalive": 30,
                        "workers": workers,
                        "max_connections": SERVER_CONNECTIONS,
                    },
                    "api_keys": [API_KEY],
                    "tokens_file": str(tokens),
                    "upstream": {
                        "base_urls": [upstream.url],
                        "ca_file": upstream.cafile,
                        "max_connections": UPSTREAM_CONNECTIONS,
                        "gzip": upstream.ask_gzip,
                    },
                    "limits": LIMITS,
                    "watch": {"enabled": False},
                    "state": (
                        {"backend": "redis", "redis_url": redis_url, "key_prefix": f"b{workers}:"}
                        if redis_url
                        else {"backend": "memory"}
                    ),
                    "observability": {
                        "usage_db": str(home / "usage.sqlite3"),
                        "quota_refresh_seconds": 86400,
                    },
                }
            )
        )
        # The default log level (INFO), which also prints the "listening on" line read here.
        self.proc, line = spawn(
            [sys.executable, "-m", "ag2api", "--config", str(config)],
            "listening on",
            env={"AG2API_LOG_LEVEL": "INFO"},
        )
        self.pid = self.proc.pid
        self.url = line.split("listening on ")[1].split()[0] + "/v1/chat/completions"

    def close(self) -> None:
        stop(self.proc)


# -- measuring ----------------------------------------------------------------------------------
def run_load(url: str, s: Scenario, cafile: str | None) -> dict[str, Any]:
    args = [
        sys.executable,
        __file__,
        "--loadgen",
        url,
        "--concurrency",
        str(s.concurrency),
        "--requests",
        str(s.requests),
    ] + (["--stream"] if s.stream else [])
    if cafile:
        args += ["--cafile", cafile]
    out = subprocess.run(args, check=True, capture_output=True, text=True, cwd=ROOT).stdout
    return json.loads(out)


def _ms_per(ticks: int | None, done: int) -> float | None:
    return None if ticks is None else round(ticks * 1000 / CLOCK / done, 3)


def measure(
    s: Scenario,
    target: str,
    url: str,
    pid: int | None,
    cafile: str | None,
    upstream_pid: int | None = None,
    redis: RedisStats | None = None,
    warm: bool = True,
) -> Result:
    """One run of ``s`` against ``url``; ``pid``'s (and ``upstream_pid``'s) CPU from /proc."""
    if warm:
        # Connections, model list, first allocations: the run measures steady state.
        warm_up = min(s.requests, 40)  # at once for slow streams: one pass of their pace
        run_load(url, Scenario(s.name, s.stream, min(s.concurrency, warm_up), warm_up), cafile)
    base_rss = rss_kib(pid) if pid else 0
    ticks = cpu_ticks(pid) if pid else 0
    up_ticks = cpu_ticks(upstream_pid) if upstream_pid else 0
    before = redis.counters() if redis else (0, 0, 0.0)
    peak = [base_rss]
    if s.interval and pid:
        # Sample the RSS while the slow streams are all open.
        halt = threading.Event()

        def sample() -> None:
            while not halt.wait(0.05):
                peak.append(rss_kib(pid))

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        stats = run_load(url, s, cafile)
        halt.set()
        sampler.join()
    else:
        stats = run_load(url, s, cafile)
    done = max(1, stats["done"])
    used = cpu_ticks(pid) - ticks if pid else None
    up_used = cpu_ticks(upstream_pid) - up_ticks if upstream_pid else None
    if pid:
        peak.append(rss_kib(pid))
    after = redis.counters() if redis else (0, 0, 0.0)
    growth = (max(peak) - base_rss) / s.concurrency if s.interval and pid else None
    rps = round(stats["done"] / stats["seconds"], 1)
    result = Result(
        s.name,
        target,
        s.requests,
        stats["errors"],
        round(stats["seconds"], 3),
        rps,
        None if stats["ttft_p50"] is None else round(stats["ttft_p50"] * 1000, 2),
        None if stats["ttft_p99"] is None else round(stats["ttft_p99"] * 1000, 2),
        _ms_per(used, done),
        round(max(peak) / 1024, 1) if pid else None,
        None if growth is None else round(growth, 1),
        upstream_cpu_ms_per_request=_ms_per(up_used, done),
        open_streams_peak=stats.get("open_peak"),
        rps_runs=[rps],
    )
    if redis:
        result.redis_round_trips_per_request = round((after[0] - before[0]) / done, 2)
        result.redis_commands_per_request = round((after[1] - before[1]) / done, 2)
        result.redis_cpu_ms_per_request = round((after[2] - before[2]) * 1000 / done, 3)
    if stats["errors"]:
        print(f"{s.name} / {target}: {stats['error_sample']}", file=sys.stderr)
    return result


MEDIAN_FIELDS = (
    "seconds",
    "rps",
    "ttft_p50_ms",
    "ttft_p99_ms",
    "cpu_ms_per_request",
    "rss_mib",
    "rss_growth_kib_per_stream",
    "redis_round_trips_per_request",
    "redis_commands_per_request",
    "redis_cpu_ms_per_request",
    "upstream_cpu_ms_per_request",
)


def combine(runs: list[Result]) -> Result:
    """The rounds of one (scenario, target): medians, errors summed, the fewest open streams."""
    out = Result(**{f.name: getattr(runs[0], f.name) for f in fields(Result)})
    for name in MEDIAN_FIELDS:
        values = [getattr(r, name) for r in runs if getattr(r, name) is not None]
        setattr(out, name, round(statistics.median(values), 3) if values else None)
    out.errors = sum(r.errors for r in runs)
    peaks = [r.open_streams_peak for r in runs if r.open_streams_peak is not None]
    out.open_streams_peak = min(peaks) if peaks else None
    out.rounds = len(runs)
    out.rps_runs = [r.rps for r in runs]
    if len(runs) > 1 and out.rps:
        out.rps_spread_pct = round((max(out.rps_runs) - min(out.rps_runs)) / out.rps * 100, 1)
    return out


def measure_pair(
    s: Scenario, upstream: Upstream, gateway: Gateway | None, rounds: int, folder: Path
) -> list[Result]:
    """Direct and gateway runs alternated (A B A B), then each one's medians.

    ``gateway`` None: a fresh gateway for each round — for the RSS growth per open stream, which
    a gateway that already held the streams once would hide (its allocator keeps the memory)."""
    direct: list[Result] = []
    through: list[Result] = []
    for i in range(rounds):
        if upstream.direct_url:
            direct.append(
                measure(
                    s,
                    "direct",
                    upstream.direct_url,
                    upstream.direct_pid,
                    upstream.cafile,
                    warm=i == 0,
                )
            )
        own = gateway or Gateway(folder, upstream)
        try:
            through.append(
                measure(
                    s, "gateway", own.url, own.pid, None, upstream.pid, warm=i == 0 or not gateway
                )
            )
        finally:
            if gateway is None:
                own.close()
    for later in direct[1:]:
        later.rss_growth_kib_per_stream = None  # the fake keeps what it grew: first round only
    return [combine(runs) for runs in (direct, through) if runs]


def backend_scenarios(
    folder: Path, upstream: Upstream, scenarios: list[Scenario], rounds: int
) -> list[Result]:
    """The same load on the memory backend, then on Redis with 1 and with 2 workers, in turns.

    Each run gets a fresh gateway (an idle one's background sync would count in another's
    Redis counters)."""
    redis = RedisStats(folder)
    out: list[Result] = []
    try:
        for s in scenarios:
            runs: dict[str, list[Result]] = {label: [] for label, _, _ in BACKENDS}
            for _ in range(rounds):
                for label, use_redis, workers in BACKENDS:
                    gateway = Gateway(folder, upstream, redis.url if use_redis else None, workers)
                    try:
                        named = Scenario(f"{label}: {s.name}", s.stream, s.concurrency, s.requests)
                        runs[label].append(
                            measure(
                                named,
                                "gateway",
                                gateway.url,
                                gateway.pid,
                                None,
                                upstream.pid,
                                redis if use_redis else None,
                            )
                        )
                    finally:
                        gateway.close()
            out += [combine(r) for r in runs.values()]
    finally:
        redis.close()
    return out


# -- reporting ----------------------------------------------------------------------------------
def targets(results: list[Result]) -> list[tuple[str, str, bool | None]]:
    def pick(name: str, target: str) -> Result | None:
        return next((r for r in results if r.scenario == name and r.target == target), None)

    out: list[tuple[str, str, bool | None]] = []

    def ratio(label: str, name: str, attr: str, bound: float, at_least: bool) -> None:
        gw, direct = pick(name, "gateway"), pick(name, "direct")
        if gw is None or direct is None or not getattr(direct, attr) or getattr(gw, attr) is None:
            out.append((label, "not measured", None))
            return
        value = getattr(gw, attr) / getattr(direct, attr)
        ok = value >= bound if at_least else value <= bound
        out.append((label, f"{value:.2f}x (target {'≥' if at_least else '≤'} {bound}x)", ok))

    ratio("streamed throughput, concurrency 50", STREAM_50, "rps", 0.7, True)
    ratio("non-stream throughput, concurrency 50", NON_STREAM_50, "rps", 0.5, True)
    gw = pick(STREAM_50, "gateway")
    label = "gateway CPU per streamed request, concurrency 50"
    if gw is None or gw.cpu_ms_per_request is None or gw.upstream_cpu_ms_per_request is None:
        out.append((label, "not measured", None))
    else:
        mine, theirs = gw.cpu_ms_per_request, gw.upstream_cpu_ms_per_request
        out.append(
            (
                label,
                f"{mine} ms vs the upstream's {theirs} ms (target ≤ the upstream's)",
                mine <= theirs,
            )
        )
    ratio("p50 time to first token, concurrency 1", STREAM_1, "ttft_p50_ms", 1.5, False)
    slow = pick(SLOW, "gateway")
    if slow is not None:
        opened = slow.open_streams_peak
        all_open = opened is not None and opened >= slow.requests
        out.append(
            (
                f"{slow.requests} slow streams: errors, open at once",
                f"{slow.errors} errors, {opened} open at once",
                slow.errors == 0 and all_open,
            )
        )
        growth = slow.rss_growth_kib_per_stream
        out.append(
            (
                "RSS growth per open slow stream",
                f"{growth} KiB (target ≤ 60 KiB, all {slow.requests} in flight)",
                growth is not None and growth <= 60 and all_open,
            )
        )
    return out


def backend_summary(results: list[Result]) -> dict[str, float | None] | None:
    rows = {
        r.scenario.split(":")[0]: r
        for r in results
        if r.scenario.startswith(("memory, ", "redis, "))
    }
    memory, one, two = (rows.get(label) for label, _, _ in BACKENDS)
    if one is None:
        return None

    def diff(a: float | None, b: float | None) -> float | None:
        return None if a is None or b is None else round(a - b, 3)

    return {
        "workers_1_to_2_rps": round(two.rps / one.rps, 2) if two and one.rps else None,
        "redis_added_cpu_ms_per_request": diff(
            one.cpu_ms_per_request, memory.cpu_ms_per_request if memory else None
        ),
        "redis_round_trips_per_request": one.redis_round_trips_per_request,
        "redis_cpu_ms_per_request": one.redis_cpu_ms_per_request,
    }


def backend_line(summary: dict[str, float | None]) -> str:
    return (
        f"workers 1→2 (redis backend): {summary['workers_1_to_2_rps']}x req/s; "
        f"redis backend vs memory (1 worker): {summary['redis_added_cpu_ms_per_request']:+} ms "
        f"gateway CPU/req, {summary['redis_round_trips_per_request']} round trips/req, "
        f"Redis itself {summary['redis_cpu_ms_per_request']} ms CPU/req"
        if summary["redis_added_cpu_ms_per_request"] is not None
        else f"workers 1→2 (redis backend): {summary['workers_1_to_2_rps']}x req/s"
    )


def table(results: list[Result]) -> str:
    direct = {r.scenario: r for r in results if r.target == "direct"}

    def vs(r: Result) -> str:
        d = direct.get(r.scenario)
        return f"{r.rps / d.rps:.2f}x req/s" if r.target == "gateway" and d and d.rps else ""

    def text(value: Any) -> str:
        return "-" if value is None else f"{value:g}" if isinstance(value, float) else str(value)

    columns: list[tuple[str, Any]] = [
        ("scenario", lambda r: r.scenario),
        ("target", lambda r: r.target),
        ("req/s", lambda r: text(r.rps)),
        ("±%", lambda r: "" if r.rps_spread_pct is None else text(r.rps_spread_pct)),
        ("TTFT p50 ms", lambda r: text(r.ttft_p50_ms)),
        ("TTFT p99 ms", lambda r: text(r.ttft_p99_ms)),
        ("CPU ms/req", lambda r: text(r.cpu_ms_per_request)),
        ("upstream CPU ms/req", lambda r: text(r.upstream_cpu_ms_per_request)),
        ("RSS MiB", lambda r: text(r.rss_mib)),
        ("errors", lambda r: str(r.errors)),
        ("vs direct", vs),
    ]
    if any(r.rss_growth_kib_per_stream is not None for r in results):
        columns += [
            ("KiB/stream", lambda r: text(r.rss_growth_kib_per_stream)),
            ("open at once", lambda r: text(r.open_streams_peak)),
        ]
    if any(r.redis_commands_per_request is not None for r in results):
        columns += [
            ("Redis trips/req", lambda r: text(r.redis_round_trips_per_request)),
            ("Redis cmds/req", lambda r: text(r.redis_commands_per_request)),
            ("Redis CPU ms/req", lambda r: text(r.redis_cpu_ms_per_request)),
        ]
    rows = [[name for name, _ in columns]] + [[get(r) for _, get in columns] for r in results]
    widths = [max(len(row[i]) for row in rows) for i in range(len(columns))]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows
    )


def meta(settings: dict[str, Any]) -> dict[str, Any]:
    def git(*args: str) -> subprocess.CompletedProcess[str] | None:
        try:
            return subprocess.run(
                ["git", *args],
                cwd=ROOT,
                capture_output=True,
                text=True,
                env={**os.environ, "GIT_OPTIONAL_LOCKS": "0"},  # read-only: no index refresh
                timeout=10,
            )
        except (OSError, subprocess.TimeoutExpired):
            return None

    head = git("rev-parse", "HEAD")
    commit = head.stdout.strip() if head and head.returncode == 0 else None
    diff = git("diff", "--quiet", "HEAD", "--") if commit else None
    try:
        import pycurl

        libcurl: str | None = pycurl.version_info()[1]
    except ImportError:
        libcurl = None
    import tornado

    return {
        "commit": commit,
        "dirty": None if diff is None else diff.returncode != 0,
        "python": platform.python_version(),
        "tornado": tornado.version,
        "libcurl": libcurl,
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "loadavg_start": [round(x, 2) for x in os.getloadavg()],
        "loadavg_end": None,
        "started": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "settings": settings,
    }


# -- the profile --------------------------------------------------------------------------------
def find_py_spy() -> str | None:
    beside = Path(sys.executable).parent / "py-spy"
    return shutil.which("py-spy") or (str(beside) if beside.exists() else None)


def profile(args: argparse.Namespace, upstream: Upstream, folder: Path) -> int:
    spy = find_py_spy()
    if spy is None:
        print("--profile needs py-spy: pip install py-spy", file=sys.stderr)
        return 2
    gateway = Gateway(folder, upstream)
    try:
        s = Scenario(STREAM_50, True, 50, args.requests or 300)  # short: little overshoot
        run_load(gateway.url, Scenario(s.name, True, 20, 40), None)  # warm up
        command = [
            spy,
            "record",
            "--pid",
            str(gateway.pid),
            "--duration",
            str(args.profile_seconds),
        ]
        command += ["--format", args.profile_format, "--output", str(args.profile)]
        command += ["--native"] if args.profile_native else []
        recorder = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        done = errors = 0
        started = time.perf_counter()
        while recorder.poll() is None:
            stats = run_load(gateway.url, s, None)
            done, errors = done + stats["done"], errors + stats["errors"]
        seconds = time.perf_counter() - started
        output = recorder.communicate()[0]
    finally:
        gateway.close()
    if recorder.returncode != 0:
        print(f"py-spy failed ({recorder.returncode}):\n{output}", file=sys.stderr)
        return 1
    print(
        f"{args.profile} ({args.profile_format}): {args.profile_seconds} s of the gateway (pid "
        f"{gateway.pid}) under {STREAM_50}; {done / seconds:.0f} req/s, {errors} errors"
    )
    return 0


# -- main ---------------------------------------------------------------------------------------
def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="a few seconds; fails on any error")
    p.add_argument("--json", action="store_true", help="print the results as JSON (schema 2)")
    p.add_argument("--tls", action="store_true", help="the built-in fake serves HTTPS")
    p.add_argument("--rounds", type=int, help="direct/gateway alternations (default 2; 1 --quick)")
    p.add_argument("--requests", type=int, help="requests per scenario run (default: per scenario)")
    p.add_argument(
        "--only",
        action="append",
        metavar="TEXT",
        help="run only the scenario named TEXT, or those whose name contains it (repeatable)",
    )
    redis = p.add_mutually_exclusive_group()
    redis.add_argument(
        "--redis",
        action="store_true",
        help="measure state.backend redis with server.workers 1 and 2 (needs redis-server); "
        "the full run does when it can, --quick only with this flag (then only those)",
    )
    redis.add_argument("--no-redis", action="store_true", help="skip the redis/workers scenarios")
    fake = p.add_argument_group("the built-in fake upstream")
    fake.add_argument("--no-gzip", action="store_true", help="never gzip its answers")
    p.add_argument(
        "--gateway-gzip",
        action="store_true",
        help="the gateway asks for gzip (upstream.gzip: true) instead of identity",
    )
    fake.add_argument(
        "--no-usage", action="store_true", help="usageMetadata on the last event only"
    )
    ext = p.add_argument_group("an external upstream (instead of the built-in fake)")
    ext.add_argument("--upstream", metavar="URL", help="base URL of a process speaking v1internal")
    ext.add_argument("--upstream-pid", type=int, metavar="PID", help="its process, for /proc CPU")
    ext.add_argument("--direct", metavar="URL", help="the same answer in OpenAI format")
    ext.add_argument("--upstream-ca", metavar="PEM", help="CA to trust for an HTTPS upstream")
    ext.add_argument(
        "--project",
        action="append",
        help="a project id for the gateway's tokens.json (repeatable; default bench-project-0)",
    )
    ext.add_argument(
        "--access-token",
        default=ACCESS_TOKEN,
        help=f"the pre-issued bearer token the upstream accepts (default {ACCESS_TOKEN})",
    )
    prof = p.add_argument_group("profile")
    prof.add_argument("--profile", type=Path, metavar="OUT", help="py-spy the gateway into OUT")
    prof.add_argument(
        "--profile-format",
        choices=("flamegraph", "speedscope", "raw"),
        default="flamegraph",
        help="py-spy's output format (default flamegraph: an svg)",
    )
    prof.add_argument("--profile-seconds", type=int, default=20, help="sampling time (default 20)")
    prof.add_argument("--profile-native", action="store_true", help="include native frames")
    p.add_argument("--loadgen", help=argparse.SUPPRESS)
    p.add_argument("--concurrency", type=int, default=1, help=argparse.SUPPRESS)
    p.add_argument("--stream", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--cafile", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.rounds is not None and args.rounds < 1:
        p.error("--rounds must be at least 1")
    if args.requests is not None and args.requests < 1:
        p.error("--requests must be at least 1")
    if not args.upstream and (args.upstream_pid or args.direct or args.upstream_ca or args.project):
        p.error("--upstream-pid, --direct, --upstream-ca and --project need --upstream")
    return args


def chosen(text: str, s: Scenario, scenarios: list[Scenario]) -> bool:
    """``--only TEXT``: the scenario named TEXT exactly, else those whose name contains it."""
    if any(other.name == text for other in scenarios):
        return s.name == text
    return text in s.name


def sized(scenarios: list[Scenario], requests: int | None) -> list[Scenario]:
    """``scenarios`` with ``--requests`` applied."""
    if not requests:
        return scenarios
    return [Scenario(s.name, s.stream, s.concurrency, requests, s.interval) for s in scenarios]


def main() -> int:
    args = parse_args()
    raise_file_limit()
    if args.loadgen:
        stats = load(args.loadgen, args.stream, args.concurrency, args.requests or 1, args.cafile)
        print(json.dumps(asyncio.run(stats)))
        return 0
    rounds = args.rounds or (1 if args.quick else 2)
    # --quick --redis is the suite's smoke run of the worker/backend scenarios alone.
    scenarios = [] if args.quick and args.redis else QUICK if args.quick else FULL
    if args.upstream:
        scenarios = [s for s in scenarios if not s.interval]  # the pace is the upstream's
    if args.only:
        scenarios = [s for s in scenarios if any(chosen(text, s, scenarios) for text in args.only)]
    scenarios = sized(scenarios, args.requests)
    with_backends = args.redis or not (args.quick or args.no_redis or args.profile)
    if with_backends and not redis_available():
        if args.redis:
            print("--redis needs redis-server and the redis package", file=sys.stderr)
            return 2
        print("(no redis-server: the redis/workers scenarios are skipped)", file=sys.stderr)
        with_backends = False
    settings = {
        "rounds": rounds,
        "quick": args.quick,
        "tls": bool(args.tls and not args.upstream),
        "upstream": args.upstream or "fake",
        "gzip": None if args.upstream else not args.no_gzip,
        "gateway_asks_gzip": args.gateway_gzip,
        "usage_every_event": None if args.upstream else not args.no_usage,
        "chunks": None if args.upstream else CHUNKS,
        "limits": LIMITS,
    }
    info = meta(settings)
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="ag2api-bench-") as tmp:
        folder = Path(tmp)
        cert = make_cert(folder) if args.tls and shutil.which("openssl") else None
        upstreams: dict[float, Upstream] = {}

        def upstream_for(interval: float) -> Upstream:
            if interval not in upstreams:
                upstreams[interval] = (
                    external_upstream(args)
                    if args.upstream
                    else start_fake(interval, cert, not args.no_gzip, not args.no_usage)
                )
                upstreams[interval].ask_gzip = args.gateway_gzip
            return upstreams[interval]

        try:
            if args.profile:
                return profile(args, upstream_for(0.0), folder)
            # One gateway for the fast scenarios, as one would run it; the slow streams get a
            # fresh one per round (see measure_pair).
            shared: Gateway | None = None
            try:
                for s in scenarios:
                    upstream = upstream_for(s.interval)
                    if not s.interval and shared is None:
                        shared = Gateway(folder, upstream)
                    gateway = None if s.interval else shared
                    results += measure_pair(s, upstream, gateway, rounds, folder)
            finally:
                if shared is not None:
                    shared.close()
            if with_backends:
                backends = sized(REDIS_QUICK if args.quick else REDIS_SCENARIOS, args.requests)
                results += backend_scenarios(folder, upstream_for(0.0), backends, rounds)
        finally:
            for upstream in upstreams.values():
                upstream.close()
    info["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    checks = targets(results)
    backend = backend_summary(results)
    if args.json:
        print(
            json.dumps(
                {
                    "schema": SCHEMA,
                    "meta": info,
                    "results": [asdict(r) for r in results],
                    "targets": [{"target": t, "value": v, "met": ok} for t, v, ok in checks],
                    "backend": backend,
                },
                indent=2,
            )
        )
    else:
        print(table(results))
        print()
        for target, value, ok in checks:
            mark = "met" if ok else "not measured" if ok is None else "MISSED"
            print(f"  {target}: {value} — {mark}")
        if backend:
            print(f"  {backend_line(backend)}")
        commit = (info["commit"] or "no git")[:12] + (" (dirty)" if info["dirty"] else "")
        print(
            f"\n{commit}; Python {info['python']}; {info['cpus']} CPUs; load "
            f"{info['loadavg_start'][0]} → {info['loadavg_end'][0]}; {rounds} round(s)"
        )
    errors = sum(r.errors for r in results)
    return 1 if args.quick and errors else 0


if __name__ == "__main__":
    sys.exit(main())
