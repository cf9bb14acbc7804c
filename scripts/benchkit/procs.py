"""The processes under test (the upstream, the gateway, a redis-server) and /proc readings."""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from benchkit.model import (
    ACCESS_TOKEN,
    API_KEY,
    CHUNKS,
    LIMITS,
    ROOT,
    SERVER_CONNECTIONS,
    UPSTREAM_CONNECTIONS,
)


def raise_file_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else 65536
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


def cpu_ticks(pid: int) -> int:
    """CPU of ``pid`` and its child processes (the workers of server.workers)."""
    fields_ = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    children = Path(f"/proc/{pid}/task/{pid}/children")
    kids = [int(c) for c in children.read_text().split()] if children.exists() else []
    return int(fields_[11]) + int(fields_[12]) + sum(cpu_ticks(k) for k in kids)


def rss_kib(pid: int) -> int:
    """Resident memory of ``pid`` and its child processes (each worker's own heap counts)."""
    own = 0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            own = int(line.split()[1])
            break
    children = Path(f"/proc/{pid}/task/{pid}/children")
    kids = [int(c) for c in children.read_text().split()] if children.exists() else []
    return own + sum(rss_kib(k) for k in kids)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


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


def stop(proc: subprocess.Popen[str]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()


def make_cert(folder: Path) -> tuple[str, str]:
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
            *("-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"),
            *("-keyout", str(key), "-out", str(cert)),
        ],
        check=True,
        capture_output=True,
    )
    return str(cert), str(key)


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
        self._asked = 0  # INFO calls made by counters()

    def counters(self) -> tuple[int, int, float]:
        """(round trips, commands, CPU seconds) so far. A round trip is a read Redis made from a
        client socket (a pipeline of scripts is one); commands count the ones inside the scripts
        too. The INFO calls made here are taken off both."""
        self._asked += 1
        info = self.client.info()
        trips = int(info["total_reads_processed"]) - self._asked
        commands = int(info["total_commands_processed"]) - self._asked
        return trips, commands, float(info["used_cpu_sys"]) + float(info["used_cpu_user"])

    def close(self) -> None:
        self.client.close()
        self.proc.terminate()
        self.proc.wait(10)


def redis_available() -> bool:
    try:
        import redis  # noqa: F401
    except ImportError:
        return False
    return bool(shutil.which("redis-server") or Path("/usr/sbin/redis-server").exists())


# -- the processes under test -------------------------------------------------------------------
@dataclass
class Upstream:
    """What the gateway calls: the built-in fake (our child) or an external process."""

    url: str  # speaks v1internal
    pid: int | None  # for /proc CPU; None: not measured
    direct_url: str | None  # base URL of the same answer in the client's format; None: no ratios
    direct_pid: int | None
    cafile: str | None
    tokens: dict[str, Any]  # the gateway's tokens.json
    access_token: str  # one the upstream accepts as is (the null relay's)
    proc: subprocess.Popen[str] | None = None
    ask_gzip: bool = False  # the gateway's upstream.gzip (--gateway-gzip)

    def close(self) -> None:
        if self.proc is not None:
            stop(self.proc)


def start_fake(
    interval: float, cert: tuple[str, str] | None, gzip: bool, usage: bool, chunks: int = CHUNKS
) -> Upstream:
    args = [sys.executable, "-m", "ag2api.testing.run_fake", "--bench-chunks", str(chunks)]
    args += ["--interval", str(interval), "--access-token", ACCESS_TOKEN]
    args += ([] if gzip else ["--no-gzip"]) + ([] if usage else ["--no-usage"])
    if cert:
        args += ["--cert", cert[0], "--key", cert[1]]
    proc, line = spawn(args, '"url"')
    info = json.loads(line)
    tokens = {
        "oauth_config": {
            "client_id": info["client_id"],
            "client_secret": info["client_secret"],
            "token_url": info["token_url"],
        },
        "projects": [{**a, "enabled": True} for a in info["accounts"]],
    }
    return Upstream(
        url=info["url"],
        pid=proc.pid,
        direct_url=info["url"],
        direct_pid=proc.pid,
        cafile=cert[0] if cert else None,
        tokens=tokens,
        access_token=ACCESS_TOKEN,
        proc=proc,
    )


def external_upstream(args: argparse.Namespace) -> Upstream:
    """The tokens.json holds a pre-issued access token far from expiry: no OAuth refresh."""
    url = args.upstream.rstrip("/")
    expires = int(time.time()) + 10 * 365 * 86400
    projects = args.project or ["bench-project-0"]
    tokens = {
        # Never called (the token does not expire); a closed loopback port if it ever were.
        "oauth_config": {
            "client_id": "bench",
            "client_secret": "bench",
            "token_url": "http://127.0.0.1:9/token",
        },
        "projects": [
            {
                "project_id": project,
                "refresh_token": f"bench-refresh-{i}",
                "access_token": args.access_token,
                "expires_at": expires,
                "enabled": True,
            }
            for i, project in enumerate(projects)
        ],
    }
    # The load generator adds the route's path (the external direct serves chat only).
    direct = args.direct.rstrip("/").removesuffix("/v1/chat/completions") if args.direct else None
    same_process = direct is not None and urlsplit(direct).netloc == urlsplit(url).netloc
    return Upstream(
        url=url,
        pid=args.upstream_pid,
        direct_url=direct,
        direct_pid=args.upstream_pid if same_process else None,
        cafile=args.upstream_ca,
        tokens=tokens,
        access_token=args.access_token,
    )


class Gateway:
    """The real gateway (``python -m ag2api``) with a real config, in front of ``upstream``."""

    def __init__(
        self,
        folder: Path,
        upstream: Upstream,
        redis_url: str | None = None,
        workers: int = 1,
    ) -> None:
        home = Path(tempfile.mkdtemp(prefix="gateway-", dir=folder))
        tokens = home / "tokens.json"
        tokens.write_text(json.dumps(upstream.tokens))
        config = home / "gateway.yaml"
        config.write_text(
            json.dumps(
                {
                    "server": {
                        "port": 0,
                        "keepalive": 30,
                        "workers": workers,
                        "max_connections": SERVER_CONNECTIONS,
                        # Every load-generator connection comes from 127.0.0.1.
                        "max_connections_per_client": SERVER_CONNECTIONS,
                    },
                    "api_keys": [API_KEY],
                    "tokens_file": str(tokens),
                    "upstream": {
                        "base_urls": [upstream.url],
                        "ca_file": upstream.cafile,
                        "max_connections": UPSTREAM_CONNECTIONS,
                        "gzip": upstream.ask_gzip,
                    },
                    "limits": LIMITS,
                    "watch": {"enabled": False},
                    "state": (
                        {"backend": "redis", "redis_url": redis_url, "key_prefix": f"b{workers}:"}
                        if redis_url
                        else {"backend": "memory"}
                    ),
                    "observability": {
                        "usage_db": str(home / "usage.sqlite3"),
                        "quota_refresh_seconds": 86400,
                    },
                }
            )
        )
        # The default log level (INFO), which also prints the "listening on" line read here.
        self.proc, line = spawn(
            [sys.executable, "-m", "ag2api", "--config", str(config)],
            "listening on",
            env={"AG2API_LOG_LEVEL": "INFO"},
        )
        self.pid = self.proc.pid
        self.url = line.split("listening on ")[1].split()[0]  # the base URL

    def close(self) -> None:
        stop(self.proc)


class Floor:
    """A floor in front of ``upstream``: the null relay (``scripts/benchkit/floor.py``), or with
    ``card`` the design card's (``scripts/benchkit/card_floor.py``)."""

    def __init__(self, upstream: Upstream, card: bool = False) -> None:
        script = "card_floor.py" if card else "floor.py"
        args = [sys.executable, str(ROOT / "scripts" / "benchkit" / script)]
        args += ["--upstream", upstream.url, "--access-token", upstream.access_token]
        args += ["--project", upstream.tokens["projects"][0]["project_id"]]
        if upstream.cafile:
            args += ["--ca-file", upstream.cafile]
        if upstream.ask_gzip:
            args += ["--gzip"]
        self.proc, line = spawn(args, "listening on")
        self.pid = self.proc.pid
        self.url = line.split("listening on ")[1].split()[0]  # the base URL

    def close(self) -> None:
        stop(self.proc)
