"""scripts/bench.py --quick runs end to end (so the benchmark never rots) with zero errors.

One quick run, over TLS when openssl can make a certificate (that path covers more: the upstream's
ca_file and connection reuse over TLS); the full benchmark is never run by the suite.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_quick_benchmark_has_no_errors() -> None:
    args = [sys.executable, str(ROOT / "scripts" / "bench.py"), "--quick", "--json"]
    if shutil.which("openssl"):
        args.append("--tls")
    run = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=120)
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
