"""The design card's floor: the least the design as written down can cost, beside the gateway.

A Tornado ``RequestHandler`` that relays through ``AsyncHTTPClient`` on libcurl
(``CurlAsyncHTTPClient``) with a ``streaming_callback``, and does nothing else: no auth, no account
choice, no parsing or translation of the answer, no log, no metrics, no retries. Each chunk the
client hands over is written and flushed at once. The null relay (``floor.py``) is the floor of the
stack (a bare message delegate and the gateway's own libcurl driver); this one is the floor of the
design — the gateway is held to this one.

    python scripts/benchkit/card_floor.py --upstream URL --access-token TOKEN --project ID \
        [--ca-file PEM] [--gzip]

prints ``listening on http://127.0.0.1:PORT`` and serves ``POST /v1/chat/completions`` and
``POST /v1/messages``: ``"stream": true`` relays the SSE stream and appends the dialect's end
(``data: [DONE]`` for chat, a ``message_stop`` event for messages); otherwise the
``generateContent`` body, gathered by the same callback, is sent inside a stub object
(``{"choices": [], "content": [], "upstream": ...}``: the load generator checks for
``"choices"`` or ``"content"``). ``--gzip`` asks the upstream for gzip as the gateway does with
``upstream.gzip``; otherwise it asks for none, like the gateway's default.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import orjson  # noqa: E402
from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest  # noqa: E402
from tornado.httpserver import HTTPServer  # noqa: E402
from tornado.netutil import bind_sockets  # noqa: E402
from tornado.web import Application, RequestHandler  # noqa: E402

from ag2api.server.gc import tune_gc  # noqa: E402
from ag2api.upstream.client import GENERATE_PATH, STREAM_PATH  # noqa: E402

_DONE = {
    "chat": b"data: [DONE]\n\n",
    "messages": b'event: message_stop\ndata: {"type":"message_stop"}\n\n',
}


class CardRelay(RequestHandler):
    def initialize(self, dialect: str) -> None:
        self.dialect = dialect

    async def post(self) -> None:
        settings = self.settings
        stream = orjson.loads(self.request.body or b"{}").get("stream") is True
        parts: list[bytes] = []
        request = HTTPRequest(
            settings["base"] + (STREAM_PATH if stream else GENERATE_PATH),
            method="POST",
            body=settings["body"],
            headers=settings["headers"],
            streaming_callback=self._relay if stream else parts.append,
            decompress_response=settings["gzip"],
            ca_certs=settings["ca_file"],
            connect_timeout=5,
            request_timeout=3600,
        )
        if stream:
            self.set_header("Content-Type", "text/event-stream")
        try:
            await settings["http"].fetch(request)
        except HTTPClientError as exc:  # the load generator counts the 502 as an error
            if not self._headers_written:
                self.set_status(502)
                self.finish(str(exc))
            return
        if stream:
            self.finish(_DONE[self.dialect])
            return
        self.set_header("Content-Type", "application/json")
        self.finish(b'{"choices": [], "content": [], "upstream": ' + b"".join(parts) + b"}")

    def _relay(self, chunk: bytes) -> None:
        self.write(chunk)
        self.flush()


async def serve(args: argparse.Namespace) -> None:
    AsyncHTTPClient.configure("tornado.curl_httpclient.CurlAsyncHTTPClient", max_clients=200)
    body = orjson.dumps(
        {"project": args.project, "model": "gemini-2.5-flash", "request": {"contents": []}}
    )
    app = Application(
        [
            ("/v1/chat/completions", CardRelay, {"dialect": "chat"}),
            ("/v1/messages", CardRelay, {"dialect": "messages"}),
        ],
        base=args.upstream.rstrip("/"),
        body=body,
        headers={
            "Authorization": f"Bearer {args.access_token}",
            "Content-Type": "application/json",
        },
        gzip=args.gzip,
        ca_file=args.ca_file,
        http=AsyncHTTPClient(),
    )
    sockets = bind_sockets(0, "127.0.0.1")
    HTTPServer(app).add_sockets(sockets)
    tune_gc()  # the gateway's own setting: the comparison is of the work, not of the GC
    print(f"listening on http://127.0.0.1:{sockets[0].getsockname()[1]}", flush=True)
    await asyncio.Event().wait()


def main() -> None:
    p = argparse.ArgumentParser(description="the design card's floor (see the module docstring)")
    p.add_argument("--upstream", required=True)
    p.add_argument("--access-token", required=True)
    p.add_argument("--project", required=True)
    p.add_argument("--ca-file")
    p.add_argument("--gzip", action="store_true", help="ask the upstream for gzip")
    asyncio.run(serve(p.parse_args()))


if __name__ == "__main__":
    main()
