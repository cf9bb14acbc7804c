"""``server.workers: N``: N pre-forked processes serving one listening socket, stopped as one.

The parent binds the port, forks the workers and then only supervises: SIGINT, SIGTERM and SIGHUP
are passed on to every worker (each drains its streams as a single gateway does), and when one
worker ends by itself the others are stopped too, so the gateway lives and stops as one. The
kernel hands each new connection to one worker. Live state is shared through Redis (required);
usage statistics go to the one SQLite file (increments, safe from several processes); /metrics
adds up the workers' counters and histograms with prometheus-client's multiprocess mode (a
directory of per-process files, made here and removed at the end), while the live gauges
(accounts, cooldowns, slots in flight) are those of the worker that answers the scrape.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import shutil
import signal
import socket
import tempfile
from collections.abc import Callable, Coroutine
from types import FrameType
from typing import Any

from tornado.netutil import bind_sockets

from ag2api.config.live import Overrides
from ag2api.config.schema import GatewayConfig
from ag2api.logs.setup import flush_logs, setup_logging
from ag2api.server.http import StartupError

log = logging.getLogger("ag2api")
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
PR_SET_PDEATHSIG = 1


# ``app.serve``: one worker's gateway on the sockets the supervisor bound.
Serve = Callable[..., Coroutine[Any, Any, int]]


def run_workers(
    cfg: GatewayConfig, workers: int, serve: Serve, overrides: Overrides | None = None
) -> int:
    """Serve with ``server.workers`` processes until a signal; the first failure's exit code."""
    try:
        sockets = bind_sockets(cfg.server.port, cfg.server.host)
    except OSError as exc:
        raise StartupError(f"Cannot listen on {cfg.server.host}:{cfg.server.port}: {exc}") from exc
    metrics_dir = tempfile.mkdtemp(prefix="ag2api-metrics-")
    os.environ[MULTIPROC_ENV] = metrics_dir
    children: dict[int, int] = {}
    flush_logs()  # no log write in progress for the workers to inherit
    for number in range(workers):
        pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the child (tests watch it from outside)
            os._exit(_worker(cfg, serve, overrides, sockets))
        children[pid] = number
    for sock in sockets:
        sock.close()  # only the workers accept
    log.info("ag2api supervising %d workers (pids %s)", workers, sorted(children))
    stopping = False

    def forward(signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        if signum != signal.SIGHUP:
            stopping = True
        for child in children:
            _kill(child, signum)

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, forward)
    code = 0
    try:
        while children:
            pid, status = os.wait()
            if pid not in children:
                continue
            children.pop(pid)
            exit_code = os.waitstatus_to_exitcode(status)
            if exit_code != 0 and code == 0:
                code = exit_code if exit_code > 0 else 1
            if not stopping:
                log.error("worker %d ended (exit %d): stopping the others", pid, exit_code)
                stopping = True
                for child in children:
                    _kill(child, signal.SIGTERM)
    finally:
        shutil.rmtree(metrics_dir, ignore_errors=True)
    log.info("stopped")
    return code


def _kill(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signum)


def _end_with_parent() -> None:  # pragma: no cover - runs in the child
    """Linux: SIGTERM this worker when the supervisor dies, even by SIGKILL (no orphans)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        return
    if os.getppid() == 1:  # the supervisor died before prctl took effect
        os.kill(os.getpid(), signal.SIGTERM)


def _worker(
    cfg: GatewayConfig, serve: Serve, overrides: Overrides | None, sockets: list[socket.socket]
) -> int:  # pragma: no cover - runs in the child
    from prometheus_client import values

    # The supervisor's log writer thread did not survive the fork: this worker needs its own.
    log_writer = setup_logging(cfg.log_level)
    values.ValueClass = values.MultiProcessValue()  # chosen at import, before this fork
    _end_with_parent()
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_DFL)
    try:
        return asyncio.run(serve(cfg, overrides=overrides, sockets=sockets))
    except StartupError as exc:
        log.error("%s", exc)
        return 2
    except KeyboardInterrupt:
        return 0
    except BaseException:
        log.exception("worker failed")
        return 1
    finally:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(os.getpid())
        log_writer.close()  # before os._exit: the worker's last lines are written
