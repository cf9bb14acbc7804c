"""scripts/bench.py --quick --redis runs end to end with no errors (the scenarios never rot)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.redis_server import MISSING, available

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.skipif(not available(), reason=MISSING)
def test_quick_redis_benchmark_has_no_errors() -> None:
    args = [sys.executable, str(ROOT / "scripts" / "bench.py"), "--quick", "--redis", "--json"]
    run = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=180)
    assert run.returncode == 0, run.stdout + run.stderr
    report = json.loads(run.stdout)
    results = {r["scenario"]: r for r in report["results"]}
    names = [n for n in results if "worker" in n]
    assert names == [
        "memory, 1 worker: stream, concurrency 50",
        "redis, 1 worker: stream, concurrency 50",
        "redis, 2 workers: stream, concurrency 50",
    ]
    for name in names:
        assert results[name]["errors"] == 0 and results[name]["rps"] > 0
    for name in names[1:]:
        # One round trip per request: its pick, with the slot the request before it gave back
        # in the same pipeline (a few more for the background sync); never one per chunk.
        assert 1 <= results[name]["redis_round_trips_per_request"] < 1.6
    assert results[names[0]]["redis_round_trips_per_request"] is None
    # The summary: how 1 → 2 workers scales, and what the redis backend adds per request.
    backend = report["backend"]
    assert backend["workers_1_to_2_rps"] == round(
        results[names[2]]["rps"] / results[names[1]]["rps"], 2
    )
    assert backend["redis_added_cpu_ms_per_request"] == round(
        results[names[1]]["cpu_ms_per_request"] - results[names[0]]["cpu_ms_per_request"], 3
    )
    trips = results[names[1]]["redis_round_trips_per_request"]
    assert backend["redis_round_trips_per_request"] == trips
