"""``--profile``: py-spy on the gateway under one scenario's load (``--only``; the streamed
concurrency-50 one by default)."""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

from benchkit.measure import run_load
from benchkit.model import STREAM_50, Scenario
from benchkit.procs import Floor, Gateway, Upstream


def find_py_spy() -> str | None:
    beside = Path(sys.executable).parent / "py-spy"
    return shutil.which("py-spy") or (str(beside) if beside.exists() else None)


def profile(
    args: argparse.Namespace, upstream: Upstream, folder: Path, scenario: Scenario | None = None
) -> int:
    spy = find_py_spy()
    if spy is None:
        print("--profile needs py-spy: pip install py-spy", file=sys.stderr)
        return 2
    kind = getattr(args, "profile_target", "gateway")
    gateway: Gateway | Floor = (
        Gateway(folder, upstream) if kind == "gateway" else Floor(upstream, card=kind == "design")
    )
    try:
        s = scenario or Scenario(STREAM_50, True, 50, 300)
        # Short runs, one after another while py-spy samples: little overshoot at its end.
        s = replace(s, requests=args.requests or min(s.requests, 300))
        run_load(gateway.url, replace(s, concurrency=20, requests=40), None)  # warm up
        command = [
            spy,
            "record",
            "--pid",
            str(gateway.pid),
            "--duration",
            str(args.profile_seconds),
            "--rate",
            str(args.profile_rate),
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
        f"{args.profile} ({args.profile_format}): {args.profile_seconds} s of the {kind} (pid "
        f"{gateway.pid}) under {s.name}; {done / seconds:.0f} req/s, {errors} errors"
    )
    return 0
