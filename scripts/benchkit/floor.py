"""The null relay: the least a gateway in this design can cost, measured beside the real one.

Tornado's HTTP server (a bare ``HTTPMessageDelegate``, no ``RequestHandler``) plus the gateway's
own libcurl driver, relaying the upstream's bytes untouched: no auth, no account choice, no
parsing or translation of events, no log, no metrics, no retries. Writes are coalesced the way
the gateway's are (what arrives while a write is in flight goes out with the next one). Whatever
the real gateway costs above this row is the price of its work; this row is the price of the
design (Python, Tornado, libcurl) alone.

    python scripts/benchkit/floor.py --upstream URL --access-token TOKEN --project ID \
        [--ca-file PEM]

prints ``listening on http://127.0.0.1:PORT`` and serves ``POST /v1/chat/completions`` and
``POST /v1/messages`` (``"stream": true`` relays the SSE stream and appends the dialect's end,
``data: [DONE]`` or a ``message_stop`` event; otherwise the ``generateContent`` body is gathered
and sent inside a stub object, ``{"choices": [], "content": [], "upstream": ...}``: the load
generator checks for ``"choices"`` or ``"content"``). ``--gzip`` asks the upstream for gzip, as
the gateway does with ``upstream.gzip``.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import orjson  # noqa: E402
from tornado import httputil  # noqa: E402
from tornado.httpserver import HTTPServer  # noqa: E402
from tornado.netutil import bind_sockets  # noqa: E402

from ag2api.server.gc import tune_gc  # noqa: E402
from ag2api.upstream.client import GENERATE_PATH, STREAM_PATH  # noqa: E402
from ag2api.upstream.curl_multi import CurlMulti, Transfer  # noqa: E402

_OK = httputil.ResponseStartLine("HTTP/1.1", 200, "OK")
_MESSAGES_END = b'event: message_stop\ndata: {"type":"message_stop"}\n\n'
_CHAT_END = b"data: [DONE]\n\n"
_BAD_GATEWAY = httputil.ResponseStartLine("HTTP/1.1", 502, "Bad Gateway")


class NullRelay(httputil.HTTPMessageDelegate):
    """One request: its body gathered, then the upstream's answer relayed as it arrives."""

    def __init__(self, relay: Relay, connection: httputil.HTTPConnection) -> None:
        self.relay = relay
        self.connection = connection
        self.body: list[bytes] = []
        self.pending: list[bytes] = []
        self.started = False
        self.writing = False
        self.ended = False
        self.stream = False
        self.end = _CHAT_END
        self.answer: list[bytes] = []
        self.transfer: Transfer | None = None

    def headers_received(
        self,
        start_line: httputil.RequestStartLine | httputil.ResponseStartLine,
        headers: httputil.HTTPHeaders,
    ) -> None:
        if isinstance(start_line, httputil.RequestStartLine) and "messages" in start_line.path:
            self.end = _MESSAGES_END

    def data_received(self, chunk: bytes) -> None:
        self.body.append(chunk)

    def finish(self) -> None:
        request = orjson.loads(b"".join(self.body) or b"{}")
        self.stream = request.get("stream") is True
        relay = self.relay
        self.transfer = relay.multi.start(
            relay.base + (STREAM_PATH if self.stream else GENERATE_PATH),
            relay.body,
            relay.headers,
            on_data=self._on_data,
            on_done=self._on_done,
            connect_timeout=5,
            accept_encoding=relay.accept_encoding,
            ca_file=relay.ca_file,
        )

    def on_connection_close(self) -> None:
        if self.transfer is not None:  # the client left: stop the upstream transfer too
            self.relay.multi.abort(self.transfer)

    def _on_data(self, data: bytes) -> bool:
        if self.transfer is None or self.transfer.status != 200:
            return False  # an upstream error: stopped here, answered 502 by _on_done
        if not self.stream:
            self.answer.append(data)  # a whole answer, like any non-stream relay
        elif self.writing:
            self.pending.append(data)
        elif not self.started:
            self._head(data)
        else:
            self.writing = True
            self.connection.write(data).add_done_callback(self._written)
        return True

    def _on_done(self, errno: int, message: str, status: int, lines: Any) -> None:
        # The load generator counts a non-200 answer, or a stream without [DONE], as an error.
        self.ended = True
        failed = errno != 0 or status != 200
        if failed and not self.started:
            self._head(b"", _BAD_GATEWAY)
            return
        if not self.stream:
            self._head(
                b'{"choices": [], "content": [], "upstream": ' + b"".join(self.answer) + b"}"
            )
            return
        if not failed:
            self.pending.append(self.end)
        if not self.started:
            self._head(b"")
        elif not self.writing:
            self._written(None)

    def _head(self, data: bytes, start: httputil.ResponseStartLine = _OK) -> None:
        self.started = self.writing = True
        kind = "text/event-stream" if self.stream else "application/json"
        headers = httputil.HTTPHeaders({"Content-Type": kind})
        self.connection.write_headers(start, headers, data).add_done_callback(self._written)

    def _written(self, _: object) -> None:
        if self.pending:
            data = b"".join(self.pending)
            self.pending.clear()
            self.connection.write(data).add_done_callback(self._written)
            return
        self.writing = False
        if self.ended:
            self.ended = False
            self.connection.finish()


class Relay(httputil.HTTPServerConnectionDelegate):
    def __init__(
        self, base: str, token: str, project: str, ca_file: str | None, gzip: bool
    ) -> None:
        self.base = base.rstrip("/")
        self.accept_encoding = "gzip" if gzip else "identity"
        # One fixed request (the gateway's work of building it is part of what it adds).
        self.body = orjson.dumps(
            {"project": project, "model": "gemini-2.5-flash", "request": {"contents": []}}
        )
        self.headers = [f"Authorization: Bearer {token}", "Content-Type: application/json"]
        self.ca_file = ca_file
        self.multi = CurlMulti(2000)

    def start_request(
        self, server_conn: object, request_conn: httputil.HTTPConnection
    ) -> httputil.HTTPMessageDelegate:
        return NullRelay(self, request_conn)


async def serve(args: argparse.Namespace) -> None:
    server = HTTPServer(
        Relay(args.upstream, args.access_token, args.project, args.ca_file, args.gzip)
    )
    sockets = bind_sockets(0, "127.0.0.1")
    server.add_sockets(sockets)
    tune_gc()  # the gateway's own setting: the comparison is of the work, not of the GC
    print(f"listening on http://127.0.0.1:{sockets[0].getsockname()[1]}", flush=True)
    await asyncio.Event().wait()


def main() -> None:
    p = argparse.ArgumentParser(description="the null relay (see the module docstring)")
    p.add_argument("--upstream", required=True)
    p.add_argument("--access-token", required=True)
    p.add_argument("--project", required=True)
    p.add_argument("--ca-file")
    p.add_argument("--gzip", action="store_true", help="ask the upstream for gzip")
    asyncio.run(serve(p.parse_args()))


if __name__ == "__main__":
    main()
