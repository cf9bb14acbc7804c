"""scripts/bench.py --quick runs end to end (so the benchmark never rots) with zero errors."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("tls", [False, True], ids=["http", "tls"])
def test_quick_benchmark_has_no_errors(tls: bool) -> None:
    if tls and shutil.which("openssl") is None:
        pytest.skip("needs the openssl command to make a certificate")
    args = [sys.executable, str(ROOT / "scripts" / "bench.py"), "--quick", "--json"]
    run = subprocess.run(
        args + (["--tls"] if tls else []), cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert run.returncode == 0, run.stdout + run.stderr
    report = json.loads(run.stdout)
    results = report["results"]
    assert {(r["scenario"], r["target"]) for r in results} >= {
        ("stream, concurrency 50", "gateway"),
        ("stream, concurrency 50", "direct"),
    }
    assert all(r["errors"] == 0 and r["rps"] > 0 for r in results), results
    assert all(r["ttft_p50_ms"] is not None for r in results)
    names = {t["target"] for t in report["targets"]}
    assert "streamed throughput, concurrency 50" in names
