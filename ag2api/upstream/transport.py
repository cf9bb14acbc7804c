"""Tornado's curl client for the occasional outbound calls (the OAuth token endpoint; remote
images use one of their own). Calls to Antigravity itself go through the leaner
:mod:`ag2api.upstream.curl_multi`.

Why ``CurlAsyncHTTPClient`` and not Tornado's default ``SimpleAsyncHTTPClient`` (facts measured in
docs/architecture.md, "Upstream HTTP client"): the simple client sends ``Connection: close`` and has
no outbound proxy support; libcurl keeps connections alive across requests and speaks HTTP and SOCKS
proxies. Its two gaps are closed here:

* ``max_clients`` is fixed at construction (and that many curl handles are built up front), so
  each user sizes it for its own load.
* libcurl offers no public way to abort a running transfer. :meth:`AbortableCurlClient.abort`
  removes the transfer from the multi handle at once (even while the server is silent).
"""

from __future__ import annotations

from typing import Any

import pycurl
from tornado.curl_httpclient import CurlAsyncHTTPClient
from tornado.httpclient import HTTPClientError, HTTPRequest, HTTPResponse

ABORTED = pycurl.E_ABORTED_BY_CALLBACK
TIMED_OUT = pycurl.E_OPERATION_TIMEDOUT


class AbortableCurlClient(CurlAsyncHTTPClient):
    """``CurlAsyncHTTPClient`` plus :meth:`abort` for one request."""

    def abort(self, request: HTTPRequest, reason: str) -> bool:
        """End ``request`` now (its fetch fails with ``CurlError(ABORTED)``); False if not found."""
        for curl in self._curls:
            info: dict[str, Any] | None = getattr(curl, "info", None)
            if info and getattr(info["request"], "request", None) is request:
                self._finish(curl, ABORTED, reason)
                self._process_queue()
                return True
        for item in self._requests:
            if getattr(item[0], "request", None) is request:
                self._requests.remove(item)
                error = HTTPClientError(599, reason)
                item[1](HTTPResponse(item[0], 599, error=error, request_time=0))
                return True
        return False


def make_client(max_connections: int) -> AbortableCurlClient:
    client = AbortableCurlClient(
        force_instance=True, max_clients=max_connections, max_body_size=512 * 1024 * 1024
    )
    # libcurl's connection cache is per multi handle; let it keep a warm connection per handle.
    client._multi.setopt(pycurl.M_MAXCONNECTS, max_connections)
    return client


def no_header_trace(curl: pycurl.Curl) -> None:
    """Tornado turns libcurl's verbose trace on when its logger is at DEBUG; that trace prints
    ``Authorization: Bearer <token>``. Every request the gateway makes switches it off again."""
    curl.setopt(pycurl.VERBOSE, 0)


def curl_preparer(proxy: str | None) -> Any:
    """A ``prepare_curl_callback``: no header trace; routes through ``proxy`` when set ("": no
    proxy at all, not even one from the environment; None: libcurl's default)."""

    def prepare(curl: pycurl.Curl) -> None:
        no_header_trace(curl)
        if proxy is None:
            return
        # libcurl reads the proxy type from the URL scheme (socks5h resolves names remotely).
        curl.setopt(pycurl.PROXY, proxy)
        if proxy:
            curl.setopt(pycurl.NOPROXY, "")  # a proxy set for an account is used for every host

    return prepare
