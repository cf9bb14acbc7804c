"""A thin driver of libcurl's multi interface for the calls to the Antigravity backend.

Tornado's ``CurlAsyncHTTPClient`` is generic: per transfer it builds an ``HTTPRequest``, resets and
sets some forty curl options, parses every response header line into ``HTTPHeaders``, hops each
body chunk through a buffer and a callback, and builds an ``HTTPResponse`` at the end. For a
gateway that makes one kind of call, that is ~20 % of the CPU of a streamed request
(docs/performance.md). This driver keeps what the gateway relies on from libcurl — connection reuse
(HTTP/1.1 keep-alive, HTTP/2 multiplexing to Google), proxies, TLS, content decoding — and per
transfer sets only the URL, body, headers and callbacks on a reused easy handle:

* handles are kept per (proxy, CA file, Accept-Encoding), so those are set once per handle;
* the status is read from the status line as it arrives (pycurl refuses ``getinfo`` while libcurl
  runs); header lines are kept raw and parsed only when the answer is an error (Retry-After);
* a body chunk goes straight to the transfer's ``on_data`` from inside libcurl's callback.

libcurl forbids removing a handle from inside its own callbacks: a transfer stopped while it is
being fed refuses the rest of its bytes (libcurl ends it with a write error) and is removed right
after; :meth:`CurlMulti.abort` from anywhere else removes it at once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import pycurl

log = logging.getLogger("ag2api.upstream")

ABORTED = pycurl.E_ABORTED_BY_CALLBACK
TIMED_OUT = pycurl.E_OPERATION_TIMEDOUT

# (errno, message, HTTP status, raw header lines) when a transfer ends; errno 0 means it
# completed (whatever the status).
DoneCallback = Callable[[int, str, int, list[bytes]], None]
# Returns False to stop the transfer.
DataCallback = Callable[[bytes], bool]

_EMPTY_BODY = b""
# What is set once per easy handle: (proxy, CA file, Accept-Encoding).
_HandleKey = tuple[str | None, str | None, str]


class Transfer:
    """One request on an easy handle; what :meth:`CurlMulti.start` returns."""

    __slots__ = ("curl", "done", "header_lines", "key", "on_data", "on_done", "status")

    def __init__(self, curl: pycurl.Curl, key: _HandleKey) -> None:
        self.curl = curl
        self.key = key
        self.header_lines: list[bytes] = []
        self.status = 0  # of the response being received
        self.on_data: DataCallback | None = None
        self.on_done: DoneCallback | None = None
        self.done = False

    def _write(self, chunk: bytes) -> int | None:
        on_data = self.on_data
        if self.done:
            return 0
        if on_data is None or on_data(chunk):
            return None  # None: every byte taken
        return 0  # fewer bytes than given: libcurl ends the transfer (CURLE_WRITE_ERROR)

    def _header(self, line: bytes) -> None:
        if line.startswith(b"HTTP/"):
            # A new response (the first, or after 100 Continue or a redirect). pycurl refuses
            # getinfo() while libcurl is running, so the status is read here.
            self.header_lines.clear()
            parts = line.split(None, 2)
            self.status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
        self.header_lines.append(line)


class CurlMulti:
    """Runs transfers on one ``pycurl.CurlMulti`` driven by the asyncio event loop."""

    def __init__(self, max_connections: int) -> None:
        self._loop = asyncio.get_running_loop()
        self._multi = pycurl.CurlMulti()
        self._multi.setopt(pycurl.M_SOCKETFUNCTION, self._on_socket)
        self._multi.setopt(pycurl.M_TIMERFUNCTION, self._on_timer)
        # upstream.max_connections: connections open at once (more transfers wait inside libcurl
        # for one to free up) and kept warm in the multi handle's cache for reuse.
        self._multi.setopt(pycurl.M_MAX_TOTAL_CONNECTIONS, max_connections)
        self._multi.setopt(pycurl.M_MAXCONNECTS, max_connections)
        self._free: dict[_HandleKey, list[Transfer]] = {}
        self._running: dict[pycurl.Curl, Transfer] = {}
        self._fds: set[int] = set()
        self._timer: asyncio.Handle | None = None
        self._closed = False
        self._acting = False  # inside socket_action: libcurl's callbacks may run

    # -- the public side -------------------------------------------------------------------
    def start(
        self,
        url: str,
        body: bytes,
        headers: list[str],
        *,
        on_data: DataCallback,
        on_done: DoneCallback,
        connect_timeout: float,
        accept_encoding: str,
        proxy: str | None = None,
        ca_file: str | None = None,
    ) -> Transfer:
        """POST ``body`` to ``url``; ``on_data`` gets the (decoded) body as it arrives and
        ``on_done`` is called exactly once, unless the transfer is aborted."""
        if self._closed:
            raise RuntimeError("the upstream transport is closed")
        transfer = self._handle((proxy, ca_file, accept_encoding))
        curl = transfer.curl
        curl.setopt(pycurl.URL, url)
        curl.setopt(pycurl.HTTPHEADER, headers)
        curl.setopt(pycurl.POSTFIELDS, body or _EMPTY_BODY)
        curl.setopt(pycurl.CONNECTTIMEOUT_MS, max(1, int(connect_timeout * 1000)))
        transfer.on_data, transfer.on_done, transfer.done = on_data, on_done, False
        transfer.header_lines = []
        transfer.status = 0
        self._running[curl] = transfer
        self._multi.add_handle(curl)
        return transfer

    def abort(self, transfer: Transfer) -> bool:
        """Stop ``transfer`` now (its connection is closed, so the upstream stops generating).
        ``on_done`` is not called. False if it had already ended."""
        if transfer.done or self._running.pop(transfer.curl, None) is None:
            return False
        transfer.done = True  # from now on its write callback refuses every byte
        if self._acting:
            # Called from inside one of libcurl's callbacks, where removing is forbidden.
            self._loop.call_soon(self._remove, transfer)
        else:
            self._remove(transfer)
        return True

    def _remove(self, transfer: Transfer) -> None:
        # Removing a handle mid-transfer closes its connection (libcurl never reuses it).
        self._multi.remove_handle(transfer.curl)
        self._recycle(transfer)

    @property
    def running(self) -> int:
        return len(self._running)

    def close(self) -> None:
        self._closed = True
        for transfer in list(self._running.values()):
            self.abort(transfer)
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        for fd in list(self._fds):
            self._unwatch(fd)
        for handles in self._free.values():
            for transfer in handles:
                transfer.curl.close()
        self._free.clear()
        self._multi.close()

    # -- easy handles -------------------------------------------------------------------------
    def _handle(self, key: _HandleKey) -> Transfer:
        free = self._free.get(key)
        if free:
            return free.pop()
        curl = pycurl.Curl()
        transfer = Transfer(curl, key)
        proxy, ca_file, accept_encoding = key
        curl.setopt(pycurl.NOSIGNAL, 1)
        curl.setopt(pycurl.VERBOSE, 0)  # its trace would print the Authorization header
        curl.setopt(pycurl.POST, 1)
        curl.setopt(pycurl.FOLLOWLOCATION, 1)
        curl.setopt(pycurl.MAXREDIRS, 5)
        curl.setopt(pycurl.TIMEOUT_MS, 0)  # first-byte and idle limits: client.Watchdog
        # libcurl's upload buffer defaults to 64 KiB per handle; request bodies are sent from
        # memory, and at 1,000 open streams that was 48 MiB for nothing.
        curl.setopt(pycurl.UPLOAD_BUFFERSIZE, 16 * 1024)
        curl.setopt(pycurl.WRITEFUNCTION, transfer._write)
        curl.setopt(pycurl.HEADERFUNCTION, transfer._header)
        # Sent as the Accept-Encoding header; whatever encoding the answer comes in, libcurl
        # decodes it (gzip, deflate, br, zstd), so a server that ignores "identity" still works.
        curl.setopt(pycurl.ACCEPT_ENCODING, accept_encoding)
        if proxy is not None:
            # libcurl reads the proxy type from the URL scheme (socks5h resolves names remotely);
            # "" means none at all, not even one from the environment.
            curl.setopt(pycurl.PROXY, proxy)
            if proxy:
                curl.setopt(pycurl.NOPROXY, "")  # a configured proxy is used for every host
        if ca_file:
            curl.setopt(pycurl.CAINFO, ca_file)
        return transfer

    def _recycle(self, transfer: Transfer) -> None:
        transfer.on_data = transfer.on_done = None  # drop the call's objects now
        if self._closed:
            transfer.curl.close()
            return
        curl = transfer.curl
        curl.setopt(pycurl.POSTFIELDS, _EMPTY_BODY)  # the request body is not kept alive
        free = self._free.setdefault(transfer.key, [])
        if len(free) < 64:
            free.append(transfer)
        else:
            curl.close()

    # -- libcurl's callbacks, and the loop's ----------------------------------------------------
    def _on_socket(self, event: int, fd: int, multi: Any, data: Any) -> None:
        # libcurl may close a socket and open another on the same number without telling us:
        # always drop the old registration before adding the new one.
        self._unwatch(fd)
        if event == pycurl.POLL_REMOVE:
            return
        loop = self._loop
        if event & pycurl.POLL_IN:
            loop.add_reader(fd, self._on_ready, fd, pycurl.CSELECT_IN)
        if event & pycurl.POLL_OUT:
            loop.add_writer(fd, self._on_ready, fd, pycurl.CSELECT_OUT)
        self._fds.add(fd)

    def _unwatch(self, fd: int) -> None:
        if fd in self._fds:
            self._fds.discard(fd)
            self._loop.remove_reader(fd)
            self._loop.remove_writer(fd)

    def _on_timer(self, msecs: int) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if msecs == 0 and not self._closed:
            # "Now" (a transfer was added): the next turn of the loop, without a timer.
            self._timer = self._loop.call_soon(self._on_timeout)
        elif msecs > 0 and not self._closed:
            self._timer = self._loop.call_later(msecs / 1000.0, self._on_timeout)

    def _on_ready(self, fd: int, action: int) -> None:
        self._act(fd, action)

    def _on_timeout(self) -> None:
        self._timer = None
        self._act(pycurl.SOCKET_TIMEOUT, 0)
        if self._timer is None and self._running:
            # libcurl's clock and the loop's differ slightly: ask again rather than stall.
            msecs = self._multi.timeout()
            if msecs >= 0:
                self._on_timer(msecs)

    def _act(self, fd: int, action: int) -> None:
        multi = self._multi
        self._acting = True
        try:
            while True:
                try:
                    ret, _ = multi.socket_action(fd, action)
                except pycurl.error as exc:
                    ret = exc.args[0] if exc.args and isinstance(exc.args[0], int) else -1
                if ret != pycurl.E_CALL_MULTI_PERFORM:
                    break
        finally:
            self._acting = False
        self._collect()

    def _collect(self) -> None:
        multi = self._multi
        while True:
            queued, ok, failed = multi.info_read()
            for curl in ok:
                self._end(curl, 0, "")
            for curl, errno, message in failed:
                self._end(curl, errno, message)
            if not queued:
                return

    def _end(self, curl: pycurl.Curl, errno: int, message: str) -> None:
        transfer = self._running.pop(curl, None)
        if transfer is None:
            return  # aborted from a callback: its deferred removal is scheduled
        self._multi.remove_handle(curl)
        transfer.done = True
        status = curl.getinfo(pycurl.RESPONSE_CODE) if errno == 0 else 0
        on_done, lines = transfer.on_done, transfer.header_lines
        self._recycle(transfer)
        if on_done is not None:
            try:
                on_done(errno, message, status, lines)
            except Exception:  # a bug in a callback must not stop the other transfers
                log.exception("upstream transfer callback failed")
