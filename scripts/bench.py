#!/usr/bin/env python3
"""Benchmark ag2api against the upstream itself, in the same run.

    python scripts/bench.py            # the full run (a few minutes)
    python scripts/bench.py --quick    # a few seconds; the test suite runs this
    python scripts/bench.py --json     # machine-readable results
    python scripts/bench.py --tls      # the fake upstream serves HTTPS (self-signed)
    python scripts/bench.py --redis    # also: the redis state backend, server.workers 1 vs 2

Each part runs in its own process on loopback: the fake upstream (recording off) serving one
fixed 20-chunk answer, the real gateway with a real config in front of it, and an async load
generator. Every scenario is measured twice: through the gateway, and straight from the fake,
which serves the same answer in OpenAI format — the no-gateway limit. Ratios compare the two.
The script reports; it does not fail on a missed target (only on errors, with --quick).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import shutil
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
API_KEY = "sk-bench-0123456789"
CLOCK = os.sysconf("SC_CLK_TCK")


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


FULL = [
    Scenario("stream, concurrency 1", True, 1, 300),
    Scenario("stream, concurrency 50", True, 50, 3000),
    Scenario("stream, concurrency 500", True, 500, 5000),
    Scenario("non-stream, concurrency 50", False, 50, 3000),
    Scenario("1000 slow streams", True, 1000, 1000, interval=0.2),
]
# A smoke run (the test suite's): every path once, in a few seconds.
QUICK = [
    Scenario("stream, concurrency 50", True, 50, 100),
    Scenario("non-stream, concurrency 50", False, 50, 100),
]


# -- the load generator (its own process) ------------------------------------------------------
async def one_connection(
    url: str,
    body: bytes,
    stream: bool,
    jobs: list[int],
    ttfts: list[float],
    errors: list[str],
    ctx: ssl.SSLContext | None,
) -> None:
    parts = urlsplit(url)
    head = (
        f"POST {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
        f"Authorization: Bearer {API_KEY}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    reader, writer = await asyncio.open_connection(
        parts.hostname, parts.port, ssl=ctx, limit=1 << 20
    )
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
                    first = first or time.perf_counter()
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
    started = time.perf_counter()
    await asyncio.gather(
        *(
            one_connection(url, body, stream, jobs, ttfts, errors, ctx)
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
    }


# -- the orchestrator -------------------------------------------------------------------------
def raise_file_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else 65536
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


def cpu_ticks(pid: int) -> int:
    """CPU of ``pid`` and its child processes (the workers of server.workers)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    children = Path(f"/proc/{pid}/task/{pid}/children")
    kids = [int(c) for c in children.read_text().split()] if children.exists() else []
    return int(fields[11]) + int(fields[12]) + sum(cpu_ticks(k) for k in kids)


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


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


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


def make_cert(folder: Path) -> tuple[str, str]:
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return str(cert), str(key)


class Stack:
    """A fake upstream and a gateway in front of it, each its own process."""

    def __init__(
        self,
        folder: Path,
        interval: float,
        cert: tuple[str, str] | None,
        redis_url: str | None = None,
        workers: int = 1,
    ) -> None:
        fake_args = [
            sys.executable,
            "-m",
            "ag2api.testing.run_fake",
            "--bench-chunks",
            "20",
            "--interval",
            str(interval),
        ]
        if cert:
            fake_args += ["--cert", cert[0], "--key", cert[1]]
        self.fake, line = spawn(fake_args, '"url"')
        info = json.loads(line)
        self.direct_url = info["url"] + "/v1/chat/completions"
        tokens = folder / f"tokens-{self.fake.pid}.json"
        tokens.write_text(
            json.dumps(
                {
                    "oauth_config": {
                        "client_id": info["client_id"],
                        "client_secret": info["client_secret"],
                        "token_url": info["token_url"],
                    },
                    "projects": [{**a, "enabled": True} for a in info["accounts"]],
                }
            )
        )
        config = folder / f"gateway-{self.fake.pid}.yaml"
        config.write_text(
            json.dumps(
                {
                    "server": {"port": 0, "keepalive": 30, "workers": workers},
                    "api_keys": [API_KEY],
                    "tokens_file": str(tokens),
                    "upstream": {"base_urls": [info["url"]], "ca_file": cert[0] if cert else None},
                    "limits": {"per_account": 1000, "total": 5000},
                    "watch": {"enabled": False},
                    "log_level": "WARNING",
                    "state": (
                        {"backend": "redis", "redis_url": redis_url, "key_prefix": f"b{workers}:"}
                        if redis_url
                        else {"backend": "memory"}
                    ),
                    "observability": {
                        "usage_db": str(folder / "usage.sqlite3"),
                        "quota_refresh_seconds": 86400,
                    },
                }
            )
        )
        self.gateway, line = spawn(
            [sys.executable, "-m", "ag2api", "--config", str(config)],
            "listening on",
            env={"AG2API_LOG_LEVEL": "INFO"},
        )
        self.gateway_url = line.split("listening on ")[1].split()[0] + "/v1/chat/completions"
        self.cafile = cert[0] if cert else None

    def close(self) -> None:
        for proc in (self.gateway, self.fake):
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()


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


def measure(
    s: Scenario,
    target: str,
    url: str,
    pid: int,
    cafile: str | None,
    redis: RedisStats | None = None,
) -> Result:
    # Warm up (connections, token refresh, model list) so the run measures steady state.
    run_load(url, Scenario(s.name, s.stream, min(s.concurrency, 20), 40), cafile)
    base_rss, ticks = rss_kib(pid), cpu_ticks(pid)
    before = redis.counters() if redis else (0, 0, 0.0)
    peak = [base_rss]
    if s.interval:
        # Sample the RSS while the slow streams are all open.
        stop = threading.Event()

        def sample() -> None:
            while not stop.wait(0.05):
                peak.append(rss_kib(pid))

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        stats = run_load(url, s, cafile)
        stop.set()
        sampler.join()
    else:
        stats = run_load(url, s, cafile)
    used = (cpu_ticks(pid) - ticks) * 1000 / CLOCK
    done = max(1, stats["done"])
    after = redis.counters() if redis else (0, 0, 0.0)
    growth = (max(peak) - base_rss) / s.concurrency if s.interval else None
    result = Result(
        s.name,
        target,
        s.requests,
        stats["errors"],
        round(stats["seconds"], 3),
        round(stats["done"] / stats["seconds"], 1),
        None if stats["ttft_p50"] is None else round(stats["ttft_p50"] * 1000, 2),
        None if stats["ttft_p99"] is None else round(stats["ttft_p99"] * 1000, 2),
        round(used / done, 3),
        round(max(peak) / 1024, 1),
        None if growth is None else round(growth, 1),
    )
    if redis:
        result.redis_round_trips_per_request = round((after[0] - before[0]) / done, 2)
        result.redis_commands_per_request = round((after[1] - before[1]) / done, 2)
        result.redis_cpu_ms_per_request = round((after[2] - before[2]) * 1000 / done, 3)
    return result


def targets(results: list[Result]) -> list[tuple[str, str, bool | None]]:
    def pick(name_part: str, target: str) -> Result | None:
        return next((r for r in results if name_part in r.scenario and r.target == target), None)

    out: list[tuple[str, str, bool | None]] = []

    def ratio(label: str, part: str, field: str, bound: float, at_least: bool) -> None:
        gw, direct = pick(part, "gateway"), pick(part, "direct")
        if gw is None or direct is None or not getattr(direct, field) or getattr(gw, field) is None:
            out.append((label, "not measured", None))
            return
        value = getattr(gw, field) / getattr(direct, field)
        ok = value >= bound if at_least else value <= bound
        out.append((label, f"{value:.2f}x (target {'≥' if at_least else '≤'} {bound}x)", ok))

    ratio("streamed throughput, concurrency 50", "stream, concurrency 50", "rps", 0.5, True)
    ratio("non-stream throughput, concurrency 50", "non-stream", "rps", 0.6, True)
    ratio("p50 time to first token, concurrency 1", "concurrency 1", "ttft_p50_ms", 1.5, False)
    slow = pick("slow streams", "gateway")
    if slow is not None:
        out.append(
            (f"errors with {slow.requests} open streams", str(slow.errors), slow.errors == 0)
        )
        growth = slow.rss_growth_kib_per_stream
        out.append(
            (
                "RSS growth per open stream",
                f"{growth} KiB (target ≤ 40 KiB)",
                growth is not None and growth <= 40,
            )
        )
    return out


def table(results: list[Result]) -> str:
    head = [
        "scenario",
        "target",
        "req/s",
        "TTFT p50 ms",
        "TTFT p99 ms",
        "CPU ms/req",
        "RSS MiB",
        "errors",
        "vs direct",
    ]
    if any(r.redis_commands_per_request is not None for r in results):
        head += ["Redis trips/req", "Redis cmds/req", "Redis CPU ms/req"]
    rows = [head]
    direct = {r.scenario: r for r in results if r.target == "direct"}
    for r in results:
        vs = ""
        if r.target == "gateway" and r.scenario in direct and direct[r.scenario].rps:
            vs = f"{r.rps / direct[r.scenario].rps:.2f}x req/s"
        rows.append(
            [
                r.scenario,
                r.target,
                f"{r.rps:g}",
                f"{r.ttft_p50_ms}",
                f"{r.ttft_p99_ms}",
                f"{r.cpu_ms_per_request}",
                f"{r.rss_mib}",
                str(r.errors),
                vs,
            ]
            + (
                [
                    f"{r.redis_round_trips_per_request}",
                    f"{r.redis_commands_per_request}",
                    f"{r.redis_cpu_ms_per_request}",
                ]
                if len(head) > 9
                else []
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows
    )


REDIS_SCENARIOS = [Scenario("stream, concurrency 50", True, 50, 3000)]
REDIS_QUICK = [Scenario("stream, concurrency 50", True, 50, 100)]


def redis_scenarios(folder: Path, cert: tuple[str, str] | None, quick: bool) -> list[Result]:
    """The same load on the memory backend, then on Redis with 1 and with 2 workers."""
    redis = RedisStats(folder)
    out: list[Result] = []
    try:
        for s in REDIS_QUICK if quick else REDIS_SCENARIOS:
            for label, url, workers in (
                ("memory, 1 worker", None, 1),
                ("redis, 1 worker", redis.url, 1),
                ("redis, 2 workers", redis.url, 2),
            ):
                stack = Stack(folder, 0.0, cert, url, workers)
                try:
                    named = Scenario(f"{label}: {s.name}", s.stream, s.concurrency, s.requests)
                    out.append(
                        measure(
                            named,
                            "gateway",
                            stack.gateway_url,
                            stack.gateway.pid,
                            stack.cafile,
                            redis if url else None,
                        )
                    )
                finally:
                    stack.close()
    finally:
        redis.close()
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="a few seconds; fails on any error")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    p.add_argument("--tls", action="store_true", help="the fake upstream serves HTTPS")
    p.add_argument(
        "--redis",
        action="store_true",
        help="also measure state.backend redis with server.workers 1 and 2 (needs redis-server)",
    )
    p.add_argument("--loadgen", help=argparse.SUPPRESS)
    p.add_argument("--concurrency", type=int, default=1, help=argparse.SUPPRESS)
    p.add_argument("--requests", type=int, default=1, help=argparse.SUPPRESS)
    p.add_argument("--stream", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--cafile", help=argparse.SUPPRESS)
    args = p.parse_args()
    raise_file_limit()
    if args.loadgen:
        print(
            json.dumps(
                asyncio.run(
                    load(args.loadgen, args.stream, args.concurrency, args.requests, args.cafile)
                )
            )
        )
        return 0
    # --quick --redis is the suite's smoke run of the worker/backend scenarios alone.
    scenarios = [] if args.quick and args.redis else QUICK if args.quick else FULL
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="ag2api-bench-") as tmp:
        folder = Path(tmp)
        cert = make_cert(folder) if args.tls and shutil.which("openssl") else None
        stacks: dict[float, Stack] = {}
        try:
            for s in scenarios:
                stack = stacks.get(s.interval) or stacks.setdefault(
                    s.interval, Stack(folder, s.interval, cert)
                )
                results.append(measure(s, "direct", stack.direct_url, stack.fake.pid, stack.cafile))
                results.append(
                    measure(s, "gateway", stack.gateway_url, stack.gateway.pid, stack.cafile)
                )
        finally:
            for stack in stacks.values():
                stack.close()
        if args.redis:
            results += redis_scenarios(folder, cert, args.quick)
    checks = targets(results)
    if args.json:
        print(
            json.dumps(
                {
                    "results": [asdict(r) for r in results],
                    "targets": [{"target": t, "value": v, "met": ok} for t, v, ok in checks],
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
    errors = sum(r.errors for r in results)
    return 1 if args.quick and errors else 0


if __name__ == "__main__":
    sys.exit(main())
