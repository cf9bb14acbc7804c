"""scripts/bench.py and its fake upstream.

* ``--quick`` runs end to end (so the benchmark never rots) with zero errors and prints the stable
  JSON (schema 2); one run, over TLS when openssl can make a certificate (that path covers more:
  the upstream's ca_file and connection reuse over TLS). The full benchmark is never run here.
* The external-upstream mode drives the gateway in front of a separately started
  ``python -m ag2api.testing.run_fake`` with a pre-issued token, reading that process's CPU.
* The fake's benchmark answer looks like Google's: running usageMetadata on every event, gzip
  when (and only when) the request accepts it, each streamed event sync-flushed on its own.
"""

from __future__ import annotations

import argparse
import gzip
import importlib.util
import json
import shutil
import subprocess
import sys
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ag2api.testing.fake_bench import BenchAnswer, accepts_gzip
from ag2api.testing.fake_upstream import FakeUpstream
from tests.support.http import fetch

ROOT = Path(__file__).resolve().parents[1]
BENCH = str(ROOT / "scripts" / "bench.py")
RESULT_FIELDS = {
    "scenario",
    "target",
    "requests",
    "errors",
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
    "open_streams_peak",
    "rounds",
    "rps_runs",
    "rps_spread_pct",
    "events_per_request",
    "cpu_us_per_event",
}
LONG = "500-event stream (/v1/messages), concurrency 50"
DESIGN_TARGETS = {
    "streamed req/s vs the design floor, concurrency 50": "(target ≥ 1.0x)",
    "streamed CPU/req vs the design floor, concurrency 50": "(target ≤ 1.15x)",
    "non-stream req/s vs the design floor, concurrency 50": "(target ≥ 0.9x)",
    "non-stream CPU/req vs the design floor, concurrency 50": "(target ≤ 1.25x)",
    "500-event stream CPU/event vs the design floor": "(target ≤ 1.15x)",
}


def run_bench(*args: str) -> dict:
    run = subprocess.run(
        [sys.executable, BENCH, "--quick", "--json", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    return json.loads(run.stdout)


def test_quick_benchmark_has_no_errors() -> None:
    """One quick run with both floors (``--floor``): the design card's (a RequestHandler relaying
    through AsyncHTTPClient on curl) and the null relay (Tornado's bare delegate + the gateway's
    libcurl driver, bytes relayed untouched), measured in the same rounds as the gateway, which is
    held to the design card's floor and shown against both."""
    report = run_bench(
        "--floor", "--requests", "60", *(["--tls"] if shutil.which("openssl") else [])
    )
    assert report["schema"] == 2
    meta = report["meta"]
    assert meta["cpus"] >= 1 and len(meta["loadavg_start"]) == 3 and len(meta["loadavg_end"]) == 3
    assert meta["python"] == sys.version.split()[0]
    assert meta["settings"]["upstream"] == "fake"
    assert meta["settings"]["gzip"] is True and meta["settings"]["usage_every_event"] is True
    assert meta["settings"]["rounds"] == 1
    rows = {(r["scenario"], r["target"]): r for r in report["results"]}
    scenarios = ("stream, concurrency 50", "non-stream, concurrency 50", LONG)
    targets = ("gateway", "direct", "floor", "design")
    assert set(rows) == {(s, t) for s in scenarios for t in targets}
    for r in rows.values():
        assert set(r) == RESULT_FIELDS
        assert r["errors"] == 0 and r["rps"] > 0 and r["requests"] == 60, r
        assert r["ttft_p50_ms"] is not None and r["cpu_ms_per_request"] is not None, r
        assert r["rounds"] == 1 and r["rps_runs"] == [r["rps"]] and r["rps_spread_pct"] is None
        # The fake's CPU while it served the gateway or a floor.
        assert (r["upstream_cpu_ms_per_request"] is not None) == (r["target"] != "direct")
        stream = not r["scenario"].startswith("non-stream")
        assert r["events_per_request"] == (
            (500 if r["scenario"] == LONG else 20) if stream else None
        )
        assert (r["cpu_us_per_event"] is not None) == stream
    assert 1 <= rows[scenarios[0], "gateway"]["open_streams_peak"] <= 50
    checks = {t["target"]: t for t in report["targets"]}
    assert set(checks) == set(DESIGN_TARGETS)
    for label, bound in DESIGN_TARGETS.items():
        assert bound in checks[label]["value"] and checks[label]["met"] is not None
    assert report["backend"] is None
    for target in ("floor", "design"):
        summary = {row["scenario"]: row for row in report[target]}
        assert set(summary) == set(scenarios)
        for scenario, row in summary.items():
            floor, gateway = rows[scenario, target], rows[scenario, "gateway"]
            assert row["floor_cpu_ms_per_request"] == floor["cpu_ms_per_request"]
            added = round(gateway["cpu_ms_per_request"] - floor["cpu_ms_per_request"], 3)
            assert row["gateway_added_cpu_ms_per_request"] == added
            assert row["gateway_vs_floor_cpu"] == round(
                gateway["cpu_ms_per_request"] / floor["cpu_ms_per_request"], 2
            )
            assert row["floor_vs_direct_rps"] == round(
                floor["rps"] / rows[scenario, "direct"]["rps"], 2
            )
    # Without --floor the quick run measures no floor (its scenarios do not ask for one), so its
    # targets are "not measured".
    assert not any(s.floor for s in load_bench().QUICK)


@pytest.fixture
def external_fake() -> Iterator[dict]:
    """``python -m ag2api.testing.run_fake`` as a separate process, accepting a known token."""
    proc = subprocess.Popen(
        [
            *(sys.executable, "-m", "ag2api.testing.run_fake", "--bench-chunks", "5"),
            *("--access-token", "ya29.external-test"),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        info = json.loads(proc.stdout.readline())
        assert info["pid"] == proc.pid
        yield info
    finally:
        proc.terminate()
        proc.wait(10)
        if proc.stdout is not None:
            proc.stdout.close()


def test_external_upstream_mode(external_fake: dict) -> None:
    url, pid = external_fake["url"], str(external_fake["pid"])
    report = run_bench(
        *("--upstream", url, "--upstream-pid", pid, "--direct", url + "/v1/chat/completions"),
        *("--access-token", "ya29.external-test", "--project", "bench-project-1"),
        *("--requests", "20", "--only", "stream, concurrency 50", "--floor"),
    )
    assert report["meta"]["settings"]["upstream"] == url
    rows = {(r["scenario"], r["target"]): r for r in report["results"]}
    assert set(rows) == {
        ("stream, concurrency 50", "gateway"),
        ("stream, concurrency 50", "floor"),  # both floors use the pre-issued token too
        ("stream, concurrency 50", "design"),
        ("stream, concurrency 50", "direct"),
    }
    assert rows["stream, concurrency 50", "floor"]["errors"] == 0
    assert rows["stream, concurrency 50", "design"]["errors"] == 0
    gateway, direct = (
        rows["stream, concurrency 50", "gateway"],
        rows["stream, concurrency 50", "direct"],
    )
    assert gateway["errors"] == direct["errors"] == 0 and gateway["requests"] == 20
    # The external process's CPU is read from /proc: for the direct runs and during the gateway's.
    assert direct["cpu_ms_per_request"] is not None
    assert gateway["upstream_cpu_ms_per_request"] is not None
    checks = {t["target"]: t for t in report["targets"]}
    assert checks["streamed req/s vs the design floor, concurrency 50"]["met"] is not None
    assert "non-stream req/s vs the design floor, concurrency 50" not in checks  # not run


def test_accept_encoding_decides_gzip() -> None:
    assert accepts_gzip("gzip") and accepts_gzip("deflate, gzip") and accepts_gzip("*")
    assert accepts_gzip("br;q=1.0, gzip;q=0.5")
    assert not accepts_gzip("") and not accepts_gzip("identity")
    assert not accepts_gzip("gzip;q=0") and not accepts_gzip("*, gzip;q=0")
    assert not accepts_gzip("deflate, *;q=0")


async def test_fake_gzips_each_event_when_asked() -> None:
    answer = BenchAnswer(4, interval=0.001)
    fake = FakeUpstream()
    fake.add_account("rt", "proj")
    token = fake.issue_token("rt")
    await fake.start(bench=answer)
    try:

        async def post(path: str, encoding: str) -> tuple[str | None, list[bytes]]:
            pieces: list[bytes] = []
            response = await fetch(
                fake.url + path,
                "POST",
                b"{}",
                {"Accept-Encoding": encoding},
                key=token,
                decompress_response=False,
                streaming_callback=pieces.append,
            )
            assert response.code == 200, response.code
            return response.headers.get("Content-Encoding"), pieces

        stream = "/v1internal:streamGenerateContent?alt=sse"
        encoding, pieces = await post(stream, "gzip, deflate")
        assert encoding == "gzip"
        decoder = zlib.decompressobj(wbits=31)
        # Each piece (the fake waits between events) decodes at once to exactly its event.
        assert [decoder.decompress(p) for p in pieces] == answer.upstream_events
        assert decoder.eof
        events = [json.loads(e[len(b"data: ") :]) for e in answer.upstream_events]
        assert [e["response"]["usageMetadata"]["candidatesTokenCount"] for e in events] == [
            1,
            2,
            3,
            4,
        ]
        assert events[-1]["response"]["candidates"][0]["finishReason"] == "STOP"

        encoding, pieces = await post(stream, "identity")
        assert encoding is None and b"".join(pieces) == b"".join(answer.upstream_events)

        encoding, pieces = await post("/v1internal:generateContent", "gzip")
        assert encoding == "gzip" and gzip.decompress(b"".join(pieces)) == answer.upstream_body
        encoding, pieces = await post("/v1internal:generateContent", "identity")
        assert encoding is None and b"".join(pieces) == answer.upstream_body

        # The direct OpenAI answer is never compressed.
        encoding, pieces = await post("/v1/chat/completions", "gzip")
        assert encoding is None and b"".join(pieces) == answer.direct_body
        encoding, pieces = await post("/v1/messages", "gzip")
        assert encoding is None and b"".join(pieces) == answer.messages_body
    finally:
        await fake.stop()


def test_direct_messages_answer_follows_the_streaming_contract() -> None:
    """The fake's direct /v1/messages answer (the long scenario's no-gateway limit): one write per
    upstream event, the events Claude Code expects in order, the same text as the chat answer."""
    answer = BenchAnswer(3)
    assert len(answer.messages_events) == len(answer.upstream_events) + 1
    frames = b"".join(answer.messages_events).decode().strip().split("\n\n")
    events = []
    for frame in frames:
        name, data = frame.split("\n")
        assert name.startswith("event: ") and data.startswith("data: ")
        events.append(json.loads(data[len("data: ") :]))
        assert events[-1]["type"] == name[len("event: ") :]
    assert [e["type"] for e in events] == [
        "message_start",
        "content_block_start",
        *["content_block_delta"] * 3,
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    text = "".join(e["delta"]["text"] for e in events if e["type"] == "content_block_delta")
    whole = json.loads(answer.messages_body)
    assert (
        text
        == whole["content"][0]["text"]
        == json.loads(answer.direct_body)["choices"][0]["message"]["content"]
    )


def test_lighter_fake_without_usage_or_gzip() -> None:
    answer = BenchAnswer(3, usage_every_event=False, gzip_upstream=False)
    events = [json.loads(e[len(b"data: ") :]) for e in answer.upstream_events]
    assert ["usageMetadata" in e["response"] for e in events] == [False, False, True]
    assert not answer.gzip


def load_bench() -> Any:
    spec = importlib.util.spec_from_file_location("bench", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench"] = module  # dataclasses look their module up while the class is made
    spec.loader.exec_module(module)
    return module


def test_rounds_combine_into_medians_and_spread() -> None:
    bench = load_bench()

    def run(rps: float, cpu: float, errors: int, opened: int) -> Any:
        return bench.Result(
            *("stream, concurrency 50", "gateway", 100, errors, 1.0, rps, 5.0, 9.0, cpu, 50.0),
            upstream_cpu_ms_per_request=cpu / 2,
            open_streams_peak=opened,
            rps_runs=[rps],
        )

    row = importlib.import_module("benchkit.measure").combine(
        [run(100, 3.0, 0, 50), run(300, 1.0, 2, 40), run(200, 2.0, 0, 50)]
    )
    assert (row.rps, row.cpu_ms_per_request, row.upstream_cpu_ms_per_request) == (200, 2.0, 1.0)
    assert row.errors == 2 and row.open_streams_peak == 40 and row.rounds == 3
    assert row.rps_runs == [100, 300, 200] and row.rps_spread_pct == 100.0


def test_profile_without_py_spy_says_how_to_get_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    load_bench()
    profiling = importlib.import_module("benchkit.profile")
    monkeypatch.setattr(profiling, "find_py_spy", lambda: None)
    assert profiling.profile(argparse.Namespace(), None, tmp_path) == 2
    assert "pip install py-spy" in capsys.readouterr().err


def test_pool_benchmark_runs_every_strategy_with_and_without_affinity() -> None:
    """``--pool --quick``: every routing strategy, affinity off and on, each served answers
    before its simulated pool ran out; affinity keeps turns on their account. Then quotas that
    come back within the run, and credits: spent only when accounts.use_credits is on."""
    report = run_bench("--pool")
    assert report["schema"] == 2 and report["meta"]["settings"]["pool"] is True
    rows = {(r["strategy"], r["affinity"]): r for r in report["pool"]["rows"]}
    assert set(rows) == {(s, a) for s in ("rotate", "fill", "balanced") for a in (False, True)}
    assert all(r["served"] > 0 and r["added_wait_p50_ms"] is not None for r in rows.values())
    assert rows["rotate", True]["same_account_pct"] > rows["rotate", False]["same_account_pct"]
    assert all(r["resets"] == 0 and r["on_credits"] == 0 for r in rows.values())

    schedule = report["pool"]["schedule"]
    assert schedule["settings"]["reset_period"] and schedule["settings"]["credits"]
    runs = {(r["affinity"], r["credits"]): r for r in schedule["rows"]}
    assert set(runs) == {(a, c) for a in (False, True) for c in (False, True)}
    for (_, credits), run in runs.items():
        assert run["served"] > 0 and run["resets"] > 0  # the quota came back during the run
        assert (run["on_credits"] > 0) is credits
