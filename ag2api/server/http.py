"""The HTTP server itself: per-connection header and idle timeouts, a cap on open connections,
an accept loop that survives running out of descriptors, and the open-file limit."""

from __future__ import annotations

import copy
import errno
import logging
import resource
import socket
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from ipaddress import ip_address
from typing import Any

from tornado.http1connection import HTTP1Connection, HTTP1ServerConnection
from tornado.httpserver import HTTPServer
from tornado.httputil import HTTPConnection, HTTPMessageDelegate
from tornado.ioloop import IOLoop
from tornado.iostream import IOStream
from tornado.web import Application

from ag2api.config.schema import GatewayConfig, ServerConfig

log = logging.getLogger("ag2api")


# accept() failures that mean "out of descriptors or memory": retrying at once only spins.
ACCEPT_EXHAUSTED = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})
ACCEPT_PAUSE = 0.1  # seconds accepting is paused after such a failure
REPORT_EVERY = 10.0  # seconds between two log lines about refused or failed accepts


class StartupError(Exception):
    """A reason the gateway refuses to start, already phrased for the operator."""


class RateLimitedLog:
    """At most one warning per ``interval``; the ones held back are counted in the next."""

    def __init__(
        self, logger: logging.Logger, interval: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._log, self._interval, self._clock = logger, interval, clock
        self._next: float | None = None
        self.held_back = 0

    def warning(self, msg: str, *args: Any) -> bool:
        now = self._clock()
        if self._next is not None and now < self._next:
            self.held_back += 1
            return False
        self._next = now + self._interval
        if self.held_back:
            msg, args = msg + " (%d more since the last report)", (*args, self.held_back)
            self.held_back = 0
        self._log.warning(msg, *args)
        return True


def raise_open_file_limit() -> int:
    """Raise the soft RLIMIT_NOFILE to the hard limit (each connection is a descriptor)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (ValueError, OSError) as exc:
            log.warning("cannot raise the open-file limit from %d to %d: %s", soft, hard, exc)
            return soft
        log.info("open-file limit raised from %d to %d", soft, hard)
        return hard
    log.info("open-file limit: %d", soft)
    return soft


def connection_cap(cfg: GatewayConfig, fd_limit: int) -> int:
    """``server.max_connections``, lowered so client sockets leave room for upstream ones."""
    reserve = min(cfg.upstream.max_connections, fd_limit // 2) + 64
    cap = min(cfg.server.max_connections, max(16, fd_limit - reserve))
    if cap < cfg.server.max_connections:
        log.warning(
            "server.max_connections lowered from %d to %d to fit the open-file limit (%d)",
            cfg.server.max_connections,
            cap,
            fd_limit,
        )
    return cap


def accept_guarded(
    sock: socket.socket,
    callback: Callable[[socket.socket, Any], None],
    failures: RateLimitedLog,
    pause: float = ACCEPT_PAUSE,
) -> Callable[[], None]:
    """Tornado's accept loop (netutil.add_accept_handler), except that running out of
    descriptors pauses accepting for ``pause`` seconds and is logged at most once per interval,
    instead of raising on every readiness event (a busy loop writing a traceback each time)."""
    io_loop = IOLoop.current()
    removed = False

    def on_readable(fd: Any, events: int) -> None:
        for _ in range(128):
            if removed:
                return
            try:
                connection, address = sock.accept()
            except BlockingIOError:
                return
            except ConnectionAbortedError:
                continue
            except OSError as exc:
                if exc.errno not in ACCEPT_EXHAUSTED:
                    raise
                failures.warning("cannot accept connections (%s): pausing accept", exc.strerror)
                io_loop.remove_handler(sock)
                io_loop.call_later(pause, resume)
                return
            callback(connection, address)

    def resume() -> None:
        if not removed:
            io_loop.add_handler(sock, on_readable, IOLoop.READ)

    def remove() -> None:
        nonlocal removed
        removed = True
        io_loop.remove_handler(sock)

    io_loop.add_handler(sock, on_readable, IOLoop.READ)
    return remove


def keep_nodelay(stream: IOStream) -> None:
    """TCP_NODELAY on for the connection's whole life. Tornado turns it on at the end of every
    response and off again afterwards: two setsockopt calls per request (5 % of a streamed
    request's CPU in the profile). A gateway wants it on anyway: each stream event is a small
    write that must leave at once, not wait for Nagle's algorithm."""
    stream.set_nodelay(True)
    # The instance attribute shadows IOStream.set_nodelay for Tornado's later calls.
    setattr(stream, "set_nodelay", _nodelay_stays_on)  # noqa: B010


def _nodelay_stays_on(value: bool) -> None:
    return None


@dataclass(slots=True)
class _Open:
    """One open client connection."""

    host: str  # the peer's address ("" for a Unix socket)
    since: float  # when it began to wait for its current request's headers
    request: HTTP1Connection | None = None  # the request being read or answered
    served: bool = False  # a request came before: the wait for the next is an idle one

    @property
    def waiting(self) -> bool:
        """No request in progress: connected or kept alive, its next request's headers not yet
        complete (the kind a slowloris client holds open)."""
        return self.request is None or self.request._request_start_line is None


class GatewayServer(HTTPServer):
    """Tornado's HTTPServer with client-connection limits.

    A new connection has ``header_timeout`` for its first request's headers; on a kept-alive
    connection the wait for the next request (headers included) is ``idle_timeout``. Bodies get
    ``body_timeout``. Beyond ``max_connections`` open connections, new ones are closed at once.
    One address may hold ``max_connections_per_client`` (read live): past it, its connection
    that has waited longest for request headers is closed to make room, or the new one when every
    one of its connections is busy with a request.
    """

    def setup(
        self, server: ServerConfig, max_connections: int, live: Callable[[], ServerConfig]
    ) -> None:
        self.idle_timeout = server.idle_timeout
        self.max_connections = max_connections
        self._live = live
        self._open: dict[IOStream, _Open] = {}
        self._per_host: dict[str, int] = {}
        self._refused = RateLimitedLog(log, REPORT_EVERY)
        self._over_cap = RateLimitedLog(log, REPORT_EVERY)
        self._accept_failures = RateLimitedLog(log, REPORT_EVERY)

    @property
    def open_connections(self) -> int:
        return len(self._open)

    def add_sockets(self, sockets: Iterable[socket.socket]) -> None:
        for sock in sockets:  # as TCPServer.add_sockets, with the guarded accept loop
            self._sockets[sock.fileno()] = sock
            self._handlers[sock.fileno()] = accept_guarded(
                sock, self._handle_connection, self._accept_failures
            )

    def handle_stream(self, stream: IOStream, address: tuple[Any, ...]) -> None:
        if len(self._open) >= self.max_connections:
            self._refused.warning(
                "%d client connections open (server.max_connections): closing new ones",
                len(self._open),
            )
            stream.close()
            return
        host = str(address[0]) if isinstance(address, tuple) and address else ""
        if not self._room_for(host):
            stream.close()
            return
        self._open[stream] = _Open(host, time.monotonic())
        self._per_host[host] = self._per_host.get(host, 0) + 1
        keep_nodelay(stream)
        shared = self.conn_params
        self.conn_params = copy.copy(shared)  # this connection's own: its header timeout changes
        try:
            super().handle_stream(stream, address)
        finally:
            self.conn_params = shared

    def _room_for(self, host: str) -> bool:
        """Whether ``host`` may open one more connection, closing its slowest one if need be."""
        held = self._per_host.get(host, 0)
        if not host or held < 1:
            return True
        server = self._live()
        if held < server.max_connections_per_client or _trusted(host, server):
            return True
        slowest = min(
            (s for s, c in self._open.items() if c.host == host and c.waiting),
            key=lambda s: self._open[s].since,
            default=None,
        )
        if slowest is not None:
            self._forget(slowest)
            slowest.close()
            return True
        self._over_cap.warning(
            "%s holds %d connections, all busy (server.max_connections_per_client): "
            "closing its new ones",
            host,
            held,
        )
        return False

    def _forget(self, stream: IOStream) -> None:
        entry = self._open.pop(stream, None)
        if entry is None:
            return
        left = self._per_host[entry.host] - 1
        if left:
            self._per_host[entry.host] = left
        else:
            del self._per_host[entry.host]

    def start_request(
        self, server_conn: object, request_conn: HTTPConnection
    ) -> HTTPMessageDelegate:
        assert isinstance(server_conn, HTTP1ServerConnection)
        entry = self._open.get(server_conn.stream)
        if entry is not None:
            if entry.served:
                server_conn.params.header_timeout = self.idle_timeout
            entry.served = True
            assert isinstance(request_conn, HTTP1Connection)
            entry.request, entry.since = request_conn, time.monotonic()
        return super().start_request(server_conn, request_conn)

    def on_close(self, server_conn: object) -> None:
        assert isinstance(server_conn, HTTP1ServerConnection)
        self._forget(server_conn.stream)
        super().on_close(server_conn)


def _trusted(host: str, server: ServerConfig) -> bool:
    if not server.trusted_proxies:
        return False
    try:
        address = ip_address(host)
    except ValueError:
        return False
    return any(address in network for network in server.trusted_proxies)


def make_server(
    app: Application,
    cfg: GatewayConfig,
    max_connections: int,
    live: Callable[[], ServerConfig] | None = None,
) -> GatewayServer:
    """``live``: the server settings in force now (those not read only at start)."""
    s = cfg.server
    server = GatewayServer(
        app, idle_connection_timeout=s.header_timeout, body_timeout=s.body_timeout
    )
    server.setup(s, max_connections, live or (lambda: s))
    return server
