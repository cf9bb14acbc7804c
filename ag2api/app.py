"""The Tornado application and the serve loop (listen, wait for a signal, shut down cleanly)."""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
from collections.abc import Awaitable, Callable
from pathlib import Path

from tornado.netutil import bind_sockets
from tornado.web import Application

from ag2api import __version__
from ag2api.accounts.crypto import BadKey
from ag2api.accounts.store import TokensPathError
from ag2api.admin.access import AdminAccess
from ag2api.admin.routes import ROUTES as ADMIN_ROUTES
from ag2api.config.live import Overrides, exposure_problem
from ag2api.config.schema import GatewayConfig
from ag2api.handlers import routes
from ag2api.handlers.fixed_answers import NotFoundHandler
from ag2api.logs.report import report_request
from ag2api.server.gc import tune_gc
from ag2api.server.http import StartupError, connection_cap, make_server, raise_open_file_limit
from ag2api.server.reload import Reloader
from ag2api.server.watch import FileWatcher
from ag2api.services import Services, build_services

log = logging.getLogger("ag2api")


def make_app(services: Services) -> Application:
    admin = AdminAccess()
    admin.follow(services.config)
    return Application(
        [*routes(), *ADMIN_ROUTES],
        services=services,
        admin=admin,
        default_handler_class=NotFoundHandler,
        log_function=report_request,
        template_path=str(Path(__file__).parent / "admin" / "templates"),
    )


async def drain(services: Services, grace: float) -> None:
    """No new connections are accepted; give open requests ``grace`` seconds, then end them."""
    if len(services.open_requests):
        log.info(
            "shutting down: waiting up to %.0fs for %d open requests",
            grace,
            len(services.open_requests),
        )
    if not await services.open_requests.wait_idle(grace):
        log.warning(
            "%d requests still open after %.0fs: ending them", len(services.open_requests), grace
        )
        services.open_requests.abort_all()
        await services.open_requests.wait_idle(5.0)


def check_startup(cfg: GatewayConfig) -> None:
    if (problem := exposure_problem(cfg)) is not None:
        raise StartupError(str(problem))


def reload_now(reloader: Reloader) -> None:
    """SIGHUP: the watcher's reload, now (a bad file is refused and the last good one kept)."""
    log.info("SIGHUP: re-reading the config and tokens files")
    reloader.reload_config()
    reloader.reload_tokens()


async def serve(
    cfg: GatewayConfig,
    *,
    overrides: Overrides | None = None,
    on_ready: Callable[[Services, int], Awaitable[None] | None] | None = None,
    stop: asyncio.Event | None = None,
    sockets: list[socket.socket] | None = None,
) -> int:
    """Run until SIGINT/SIGTERM (or ``stop``); returns the exit code. ``sockets``: already
    listening (a worker of :mod:`ag2api.server.workers`)."""
    check_startup(cfg)
    fd_limit = raise_open_file_limit()
    try:
        services = build_services(cfg, overrides=overrides)
    except (TokensPathError, BadKey) as exc:
        raise StartupError(str(exc)) from exc
    reloader = Reloader(services)
    watcher = FileWatcher(services.config, reloader)
    # Hosts sharing accounts: what the others changed meanwhile is merged before serving.
    await services.state.start()
    try:
        sockets = sockets or bind_sockets(cfg.server.port, cfg.server.host)
    except OSError as exc:
        await services.aclose()
        raise StartupError(f"Cannot listen on {cfg.server.host}:{cfg.server.port}: {exc}") from exc
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    loop.add_signal_handler(signal.SIGHUP, reload_now, reloader)
    # A reload's exposure check looks at these, whatever server.host says by then.
    services.config.listening = tuple(str(sock.getsockname()[0]) for sock in sockets)
    server = make_server(
        make_app(services),
        cfg,
        connection_cap(cfg, fd_limit),
        live=lambda: services.config.current.server,
    )
    server.add_sockets(sockets)
    port = sockets[0].getsockname()[1]
    tune_gc()
    log.info(
        "ag2api %s listening on http://%s:%d (config %s)",
        __version__,
        cfg.server.host,
        port,
        cfg.path,
    )
    if not cfg.api_keys:
        log.warning("no api_keys configured: the gateway is open to every local client")
    if cfg.watch.enabled:
        watcher.start()
    services.quota.start(lambda: services.config.current.observability.quota_refresh_seconds)
    services.recheck.start()
    try:
        if on_ready is not None:
            result = on_ready(services, port)
            if result is not None:
                await result
        await stop.wait()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            loop.remove_signal_handler(sig)
        server.stop()
        services.dispatcher.picker.begin_shutdown()
        await drain(services, services.config.current.server.shutdown_grace)
        await watcher.stop()
        await server.close_all_connections()
        await services.aclose()
        log.info("stopped")
    return 0
