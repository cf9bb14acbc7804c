#!/usr/bin/env python3
"""Benchmark ag2api against the design's floor and the upstream itself, in the same run.

    python scripts/bench.py            # the full run (several minutes)
    python scripts/bench.py --quick    # a few seconds; the test suite runs this
    python scripts/bench.py --json     # machine-readable results (schema below)
    python scripts/bench.py --tls      # the fake upstream serves HTTPS (self-signed)
    python scripts/bench.py --floor    # both floors in every fast scenario (also --quick)
    python scripts/bench.py --redis    # the redis backend and server.workers 1 vs 2 (also --quick)
    python scripts/bench.py --profile gateway.svg   # py-spy profile of the gateway, stream c=50
    python scripts/bench.py --pool     # routing: strategies x affinity on a simulated pool

Each part runs in its own process on loopback: the upstream, the real gateway with a real config
in front of it, and an async load generator. Every scenario is measured through the gateway and
straight from the upstream, which serves the same answer in the client's format — the no-gateway
limit ("direct"). The targets compare the gateway with the design card's floor (below) in the same
run. The runs alternate (direct, floors, gateway, direct, floors, gateway: A C D B A C D B,
``--rounds N``, 2 by default, 1 with --quick) so drift hits all; each row is the median of its
rounds, with the spread of req/s across them. The script reports; it does not fail on a missed
target (only on errors, with --quick).

The scenarios: streamed requests at concurrency 1, 50 and 500, non-stream at 50 (all on
``/v1/chat/completions``, a 20-event answer), a 500-event stream on ``/v1/messages`` at 50 — a long
Claude Code answer, where the per-event path dominates (its CPU is also given per event) — and
1000 slow streams (a chunk every 500 ms) all open at once, for the memory per open stream.

The built-in upstream is ``python -m ag2api.testing.run_fake --bench-chunks N`` (recording off;
one per answer length): one fixed N-chunk answer costing what Google's does — running
``usageMetadata`` on every event and gzip when the caller accepts it (``--no-gzip`` /
``--no-usage`` make it lighter). Its CPU is read from /proc during the gateway and floor runs too.

Two floors (``--floor`` in every fast scenario; the full run measures them in the concurrency-50
ones), each in front of the same upstream:

* the design card's floor ("design", ``scripts/benchkit/card_floor.py``): a Tornado
  ``RequestHandler`` relaying through ``AsyncHTTPClient`` on libcurl (``CurlAsyncHTTPClient``)
  with a ``streaming_callback``, doing nothing else — the least the design as written down can
  cost. The targets hold the gateway to it: streamed ≥ 1.0x its req/s and ≤ 1.15x its CPU per
  request, non-stream ≥ 0.9x and ≤ 1.25x, the 500-event stream ≤ 1.15x its CPU per event;
* the null relay ("floor", ``scripts/benchkit/floor.py``): Tornado's HTTP server with a bare
  message delegate and the gateway's own libcurl driver, relaying the upstream's bytes untouched
  — the least this stack (Python, Tornado, libcurl) can cost, below the design's own floor.

Neither does auth, accounts, parsing, translation, logs or metrics; the gateway is printed against
each (its req/s and CPU per request as a ratio, and the CPU it adds).

External upstream: ``--upstream URL`` benchmarks the gateway in front of any process speaking
v1internal (another fake, a recorded-answer server). The gateway gets a tokens.json with a
pre-issued access token (``--access-token``, expiring in ten years: no OAuth refresh) for each
``--project`` (repeatable; default one dummy). ``--upstream-pid PID`` lets the bench read that
process's CPU; ``--direct URL`` is the same answer in OpenAI format (its CPU is read too when it is
served on the upstream's host:port); without it the ratios to direct are "not measured". The
slow-stream and 500-event scenarios need the built-in fake's pacing and length and are skipped.
The fake itself can play the external process:

    python -m ag2api.testing.run_fake --bench-chunks 20 --port 9100 --access-token ya29.bench &
    python scripts/bench.py --upstream http://127.0.0.1:9100 --upstream-pid $! \\
        --access-token ya29.bench --direct http://127.0.0.1:9100/v1/chat/completions

The gateway's limits are raised so all 1000 slow streams are in flight at once (per_account 1000,
total 5000, slot_wait 30 s, 4000 client and 2000 upstream connections); with the defaults (32 per
account) most of 1,000 simultaneous streams get 503 after ``limits.slot_wait`` — by design.

``--redis`` (the full run too, when redis-server is there) serves the streamed concurrency-50
load through the memory backend and the redis backend with 1 and 2 workers, in turns, and
reads Redis' own counters: the targets are ≤ +0.3 ms of gateway CPU per request over memory and
one Redis round trip per request (the background sync adds a few a second).

``--profile OUT`` runs a scenario's load (the first ``--only`` picks; stream c=50 by default)
through the gateway — or ``--profile-target design|floor`` — while ``py-spy record`` samples it for
``--profile-seconds`` at ``--profile-rate`` and writes OUT (``--profile-format``: flamegraph svg,
speedscope or raw collapsed stacks; ``--profile-native`` adds native frames).

``--pool`` measures routing instead of speed (``scripts/benchkit/pool.py``): per strategy x
affinity, how many answers a simulated pool of accounts (quota, prompt cache, rate limits) gives
before it is used up, how often a conversation's turn lands on its previous turn's account, the
upstream 429s per 100 answers and the wait the gateway adds; then the same with quotas that come
back on a schedule during the run and credits (``accounts.use_credits`` off and on); with
``--json``, ``{"schema": 2, "meta", "pool": {"settings", "rows", "schedule": {"settings",
"rows"}}}``.

``--json`` prints ``{"schema": 2, "meta", "results", "targets", "backend", "floor", "design"}``,
stable across commits (fields are only ever added):

* ``meta``: ``commit`` and ``dirty`` (git, or null), ``python``, ``tornado``, ``libcurl``,
  ``platform``, ``cpus``, ``loadavg_start``/``loadavg_end`` (1/5/15 min), ``started`` (UTC),
  ``settings`` (``rounds``, ``quick``, ``tls``, ``upstream`` ("fake" or the URL), ``gzip``,
  ``usage_every_event``, ``chunks``, ``limits``).
* ``results``: one object per (scenario, target). ``scenario``; ``target`` ("direct", "floor"
  — the null relay —, "design" — the design card's floor — or "gateway"); ``requests`` (per
  round); ``errors`` (all rounds); medians over the rounds of ``seconds``, ``rps``,
  ``ttft_p50_ms``, ``ttft_p99_ms``, ``cpu_ms_per_request`` (the measured process and its
  children: the gateway, a floor, or the upstream for "direct"), ``cpu_us_per_event``
  (streams: ``cpu_ms_per_request`` over ``events_per_request``, the events of the upstream's
  answer; null for non-stream), ``rss_mib`` (the same processes, the highest seen),
  ``rss_growth_kib_per_stream`` (slow streams; a fresh gateway each round, the direct rows' from
  their first round), ``redis_round_trips_per_request``, ``redis_commands_per_request``,
  ``redis_cpu_ms_per_request`` (redis rows) and ``upstream_cpu_ms_per_request`` (the upstream's
  CPU while it served the gateway or a floor); ``open_streams_peak`` (streams open at once in
  the load generator — first chunk in, last not yet — the fewest over the rounds); ``rounds``;
  ``rps_runs`` (each round's req/s); ``rps_spread_pct`` ((max - min) / median; null for one
  round). Null means not measured.
* ``targets``: ``[{"target", "value", "met"}]`` (``met`` null when not measured).
* ``backend``: null, or with the redis scenarios ``workers_1_to_2_rps`` (redis, 2 workers ÷
  1 worker), ``redis_added_cpu_ms_per_request`` (gateway CPU, redis 1 worker - memory 1 worker),
  ``redis_round_trips_per_request``, ``redis_cpu_ms_per_request``.
* ``floor`` (the null relay) and ``design`` (the design card's floor): one object per scenario
  with that floor's row: ``scenario``, ``floor_vs_direct_rps``, ``floor_cpu_ms_per_request``,
  ``floor_cpu_us_per_event``, ``upstream_cpu_ms_per_request`` (while it served the floor),
  ``gateway_vs_floor_rps``, ``gateway_vs_floor_cpu`` (gateway CPU per request ÷ the floor's),
  ``gateway_added_cpu_ms_per_request`` (gateway minus floor); an empty list without one.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sys
import tempfile
from dataclasses import asdict, replace
from pathlib import Path

# The benchkit package beside this file, however it is run or loaded (the tests load it by path).
sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchkit.loadgen import load
from benchkit.measure import backend_scenarios, measure_pair
from benchkit.model import (
    ACCESS_TOKEN,
    CHUNKS,
    FLOORS,
    FULL,
    LIMITS,
    QUICK,
    REDIS_QUICK,
    REDIS_SCENARIOS,
    SCHEMA,
    Result,
    Scenario,
)
from benchkit.pool import POOL, QUICK_POOL, QUICK_SCHEDULE_POOL, SCHEDULE_POOL, measure_pool
from benchkit.pool_report import pool_json, pool_table
from benchkit.procs import (
    Floor,
    Gateway,
    Upstream,
    external_upstream,
    make_cert,
    raise_file_limit,
    redis_available,
    start_fake,
)
from benchkit.profile import profile
from benchkit.report import (
    backend_line,
    backend_summary,
    floor_line,
    floor_summary,
    meta,
    table,
    targets,
)


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
    null = p.add_mutually_exclusive_group()
    null.add_argument(
        "--floor",
        action="store_true",
        help="measure both floors (the design card's, scripts/benchkit/card_floor.py, and the "
        "null relay, scripts/benchkit/floor.py) in every fast scenario; the full run does in the "
        "concurrency-50 ones",
    )
    null.add_argument("--no-floor", action="store_true", help="never measure the floors")
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
    prof.add_argument(
        "--profile-target",
        choices=("gateway", "design", "floor"),
        default="gateway",
        help="the process to sample: the gateway (default), the design card's floor or the "
        "null relay",
    )
    prof.add_argument(
        "--profile-rate", type=int, default=100, help="samples per second (default 100)"
    )
    p.add_argument(
        "--pool",
        action="store_true",
        help="measure routing (strategies x affinity) on a simulated pool instead of speed",
    )
    p.add_argument("--loadgen", help=argparse.SUPPRESS)
    p.add_argument("--concurrency", type=int, default=1, help=argparse.SUPPRESS)
    p.add_argument("--stream", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--cafile", help=argparse.SUPPRESS)
    p.add_argument("--route", default="chat", help=argparse.SUPPRESS)
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
    return [replace(s, requests=requests) for s in scenarios]


def main() -> int:
    args = parse_args()
    raise_file_limit()
    if args.loadgen:
        stats = load(
            args.loadgen,
            args.stream,
            args.concurrency,
            args.requests or 1,
            args.cafile,
            args.route,
        )
        print(json.dumps(asyncio.run(stats)))
        return 0
    if args.pool:
        return pool_bench(args)
    rounds = args.rounds or (1 if args.quick else 2)
    # --quick --redis is the suite's smoke run of the worker/backend scenarios alone.
    scenarios = [] if args.quick and args.redis else QUICK if args.quick else FULL
    if args.upstream:
        # The pace and the length of the answer are the upstream's.
        scenarios = [s for s in scenarios if not s.interval and s.events == CHUNKS]
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
        upstreams: dict[tuple[float, int], Upstream] = {}

        def upstream_for(interval: float, events: int = CHUNKS) -> Upstream:
            if (interval, events) not in upstreams:
                upstreams[interval, events] = (
                    external_upstream(args)
                    if args.upstream
                    else start_fake(interval, cert, not args.no_gzip, not args.no_usage, events)
                )
                upstreams[interval, events].ask_gzip = args.gateway_gzip
            return upstreams[interval, events]

        try:
            if args.profile:
                # The first scenario --only picked (the streamed concurrency-50 one by default).
                fast = [s for s in scenarios if not s.interval]
                chosen_one = fast[0] if args.only and fast else None
                up = upstream_for(0.0, chosen_one.events if chosen_one else CHUNKS)
                return profile(args, up, folder, chosen_one)
            # One gateway per fast upstream, as one would run it; the slow streams get a fresh
            # one per round (see measure_pair). The floors run in front of each upstream too.
            running: dict[tuple[str, int], Gateway | Floor] = {}

            def process(kind: str, upstream: Upstream) -> Gateway | Floor:
                key = (kind, id(upstream))
                if key not in running:
                    running[key] = (
                        Gateway(folder, upstream)
                        if kind == "gateway"
                        else Floor(upstream, card=kind == "design")
                    )
                return running[key]

            try:
                for s in scenarios:
                    upstream = upstream_for(s.interval, s.events)
                    gateway = None if s.interval else process("gateway", upstream)
                    floors: dict[str, Floor] = {}
                    if not s.interval and not args.no_floor and (args.floor or s.floor):
                        for kind in FLOORS:
                            floor = process(kind, upstream)
                            assert isinstance(floor, Floor)
                            floors[kind] = floor
                    assert gateway is None or isinstance(gateway, Gateway)
                    results += measure_pair(s, upstream, gateway, rounds, folder, floors)
            finally:
                for running_process in running.values():
                    running_process.close()
            if with_backends:
                backends = sized(REDIS_QUICK if args.quick else REDIS_SCENARIOS, args.requests)
                results += backend_scenarios(folder, upstream_for(0.0), backends, rounds)
        finally:
            for upstream in upstreams.values():
                upstream.close()
    info["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    backend = backend_summary(results)
    checks = targets(results, backend)
    floor_rows = floor_summary(results)
    design_rows = floor_summary(results, "design")
    if args.json:
        print(
            json.dumps(
                {
                    "schema": SCHEMA,
                    "meta": info,
                    "results": [asdict(r) for r in results],
                    "targets": [{"target": t, "value": v, "met": ok} for t, v, ok in checks],
                    "backend": backend,
                    "floor": floor_rows,
                    "design": design_rows,
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
        for row in floor_rows:
            print(f"  {floor_line(row)}")
        for row in design_rows:
            print(f"  {floor_line(row, 'design')}")
        if backend:
            print(f"  {backend_line(backend)}")
        commit = (info["commit"] or "no git")[:12] + (" (dirty)" if info["dirty"] else "")
        print(
            f"\n{commit}; Python {info['python']}; {info['cpus']} CPUs; load "
            f"{info['loadavg_start'][0]} → {info['loadavg_end'][0]}; {rounds} round(s)"
        )
    errors = sum(r.errors for r in results)
    return 1 if args.quick and errors else 0


def pool_bench(args: argparse.Namespace) -> int:
    settings = QUICK_POOL if args.quick else POOL
    schedule = QUICK_SCHEDULE_POOL if args.quick else SCHEDULE_POOL
    info = meta({"quick": args.quick, "pool": True, "rounds": args.rounds or 1})
    with tempfile.TemporaryDirectory(prefix="ag2api-bench-pool-") as tmp:
        rows = asyncio.run(measure_pool(settings, Path(tmp) / "until-used-up", args.rounds or 1))
        again = asyncio.run(measure_pool(schedule, Path(tmp) / "schedule", args.rounds or 1))
    info["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    if args.json:
        report = {**pool_json(rows, settings), "schedule": pool_json(again, schedule)}
        print(json.dumps({"schema": SCHEMA, "meta": info, "pool": report}))
    else:
        print(pool_table(rows, settings) + "\n\n" + pool_table(again, schedule))
        print(
            f"\nload {info['loadavg_start'][0]} → {info['loadavg_end'][0]}; "
            f"{args.rounds or 1} round(s)"
        )
    return 1 if args.quick and not all(r.served for r in rows + again) else 0


if __name__ == "__main__":
    sys.exit(main())
