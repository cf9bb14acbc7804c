"""``--profile``: py-spy on the gateway under the streamed concurrency-50 load."""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time
from pathlib import Path

from benchkit.measure import run_load
from benchkit.model import STREAM_50, Scenario
from benchkit.procs import Gateway, Upstream


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
