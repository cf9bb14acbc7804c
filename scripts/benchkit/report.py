"""Targets, the text table, the backend summary and the run's metadata."""

from __future__ import annotations

import datetime
import os
import platform
import subprocess
from typing import Any

from benchkit.model import (
    BACKENDS,
    LONG,
    LONG_EVENTS,
    NON_STREAM_50,
    ROOT,
    SLOW,
    STREAM_50,
    Result,
)

# What the gateway must hold against the design card's floor, in the same run: (label, scenario,
# attribute, bound, at least). CPU per event is CPU per request over the same answer's events.
DESIGN_TARGETS = (
    ("streamed req/s vs the design floor, concurrency 50", STREAM_50, "rps", 1.0, True),
    (
        "streamed CPU/req vs the design floor, concurrency 50",
        STREAM_50,
        "cpu_ms_per_request",
        1.15,
        False,
    ),
    ("non-stream req/s vs the design floor, concurrency 50", NON_STREAM_50, "rps", 0.9, True),
    (
        "non-stream CPU/req vs the design floor, concurrency 50",
        NON_STREAM_50,
        "cpu_ms_per_request",
        1.25,
        False,
    ),
    (
        f"{LONG_EVENTS}-event stream CPU/event vs the design floor",
        LONG,
        "cpu_us_per_event",
        1.15,
        False,
    ),
)
REDIS_ADDED_CPU_MS = 0.3  # the redis backend's gateway CPU per request over the memory one
# Redis round trips per request: one on the request path; the background sync (a few a second
# per process) comes on top.
REDIS_ROUND_TRIPS = 1.1


def targets(
    results: list[Result], backend: dict[str, float | None] | None = None
) -> list[tuple[str, str, bool | None]]:
    def pick(name: str, target: str) -> Result | None:
        return next((r for r in results if r.scenario == name and r.target == target), None)

    out: list[tuple[str, str, bool | None]] = []
    for label, name, attr, bound, at_least in DESIGN_TARGETS:
        gw, design = pick(name, "gateway"), pick(name, "design")
        if gw is None or design is None or not getattr(design, attr) or getattr(gw, attr) is None:
            if gw is not None:  # the scenario ran without its floor
                out.append((label, "not measured", None))
            continue
        value = getattr(gw, attr) / getattr(design, attr)
        ok = value >= bound if at_least else value <= bound
        out.append((label, f"{value:.2f}x (target {'≥' if at_least else '≤'} {bound}x)", ok))
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
    if backend is not None:
        added = backend.get("redis_added_cpu_ms_per_request")
        if added is not None:
            out.append(
                (
                    "redis backend's added gateway CPU per request (1 worker)",
                    f"{added:+} ms (target ≤ +{REDIS_ADDED_CPU_MS} ms)",
                    added <= REDIS_ADDED_CPU_MS,
                )
            )
        trips = backend.get("redis_round_trips_per_request")
        if trips is not None:
            out.append(
                (
                    "Redis round trips per request (1 worker, background sync included)",
                    f"{trips} (target ≤ {REDIS_ROUND_TRIPS})",
                    trips <= REDIS_ROUND_TRIPS,
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


def floor_summary(results: list[Result], target: str = "floor") -> list[dict[str, Any]]:
    """Per scenario with a ``target`` row (a floor: "floor" the null relay, "design" the design
    card's): what that floor costs, and the gateway against it."""
    out: list[dict[str, Any]] = []
    for null in (r for r in results if r.target == target):
        rows = {r.target: r for r in results if r.scenario == null.scenario}
        direct, gateway = rows.get("direct"), rows.get("gateway")

        def over(a: float | None, b: float | None) -> float | None:
            return None if a is None or not b else round(a / b, 2)

        mine = gateway.cpu_ms_per_request if gateway else None
        base = null.cpu_ms_per_request
        out.append(
            {
                "scenario": null.scenario,
                "floor_vs_direct_rps": over(null.rps, direct.rps if direct else None),
                "floor_cpu_ms_per_request": base,
                "floor_cpu_us_per_event": null.cpu_us_per_event,
                "upstream_cpu_ms_per_request": null.upstream_cpu_ms_per_request,
                "gateway_vs_floor_rps": over(gateway.rps if gateway else None, null.rps),
                "gateway_vs_floor_cpu": over(mine, base),
                "gateway_added_cpu_ms_per_request": (
                    None if mine is None or base is None else round(mine - base, 3)
                ),
            }
        )
    return out


FLOOR_NAMES = {"floor": "null relay", "design": "design card's floor"}


def floor_line(row: dict[str, Any], target: str = "floor") -> str:
    return (
        f"{FLOOR_NAMES[target]}, {row['scenario']}: {row['floor_vs_direct_rps']}x direct req/s, "
        f"{row['floor_cpu_ms_per_request']} ms CPU/req (upstream "
        f"{row['upstream_cpu_ms_per_request']} ms); the gateway: {row['gateway_vs_floor_rps']}x "
        f"its req/s, {row['gateway_vs_floor_cpu']}x its CPU/req "
        f"({row['gateway_added_cpu_ms_per_request']:+} ms)"
        if row["gateway_added_cpu_ms_per_request"] is not None
        else f"{FLOOR_NAMES[target]}, {row['scenario']}: {row['floor_cpu_ms_per_request']} ms/req"
    )


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

    design = {r.scenario: r for r in results if r.target == "design"}

    def vs(r: Result) -> str:
        d = direct.get(r.scenario)
        return f"{r.rps / d.rps:.2f}x req/s" if r.target != "direct" and d and d.rps else ""

    def vs_design(r: Result) -> str:
        d = design.get(r.scenario)
        if r.target != "gateway" or d is None or not d.rps:
            return ""
        cpu = r.cpu_ms_per_request, d.cpu_ms_per_request
        text = f"{r.rps / d.rps:.2f}x req/s"
        return text + (f", {cpu[0] / cpu[1]:.2f}x CPU" if cpu[0] and cpu[1] else "")

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
    if design:
        columns.append(("vs design floor", vs_design))
    if any(r.cpu_us_per_event is not None for r in results):
        columns.insert(7, ("CPU µs/event", lambda r: text(r.cpu_us_per_event)))
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
