"""Running a scenario against a target and combining the rounds."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import threading
from dataclasses import fields
from pathlib import Path
from typing import Any

from benchkit.model import BACKENDS, BENCH_SCRIPT, CLOCK, ROOT, Result, Scenario
from benchkit.procs import Floor, Gateway, RedisStats, Upstream, cpu_ticks, rss_kib


def run_load(url: str, s: Scenario, cafile: str | None) -> dict[str, Any]:
    args = [
        sys.executable,
        str(BENCH_SCRIPT),
        "--loadgen",
        url,
        "--concurrency",
        str(s.concurrency),
        "--requests",
        str(s.requests),
        "--route",
        s.route,
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
        warm_s = Scenario(s.name, s.stream, min(s.concurrency, warm_up), warm_up, route=s.route)
        run_load(url, warm_s, cafile)
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
    per_request = result.cpu_ms_per_request
    if s.stream:
        result.events_per_request = s.events
        if per_request is not None:
            result.cpu_us_per_event = round(per_request * 1000 / s.events, 2)
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
    "cpu_us_per_event",
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
    s: Scenario,
    upstream: Upstream,
    gateway: Gateway | None,
    rounds: int,
    folder: Path,
    floors: dict[str, Floor] | None = None,
) -> list[Result]:
    """Direct and gateway runs alternated (A B A B), then each one's medians; with ``floors``
    (target name → floor), those between them (A C D B A C D B).

    ``gateway`` None: a fresh gateway for each round — for the RSS growth per open stream, which
    a gateway that already held the streams once would hide (its allocator keeps the memory)."""
    direct: list[Result] = []
    beside: dict[str, list[Result]] = {name: [] for name in floors or {}}
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
        for name, floor in (floors or {}).items():
            beside[name].append(
                measure(s, name, floor.url, floor.pid, None, upstream.pid, warm=i == 0)
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
    return [combine(runs) for runs in (direct, *beside.values(), through) if runs]


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
