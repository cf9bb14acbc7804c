"""The login's one-shot callback listener on 127.0.0.1.

The browser's request is held open until the login has finished with it, so the tab says what
really happened: "account added" only once the state matched, the code was exchanged and the
account was saved; the error otherwise.
"""

from __future__ import annotations

import html
import http.server
import queue
import sys
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from typing import Any

from ag2api.accounts.google_calls import GoogleCallFailed

# How long the browser's request waits for the login to finish with it (onboarding polls a while).
REPLY_WAIT = 180.0


@dataclass
class Arrival:
    """A redirect address that reached the login: from the browser, or pasted in the terminal."""

    url: str
    _answer: list[tuple[bool, str]] = field(default_factory=list)
    _ready: threading.Event = field(default_factory=threading.Event)

    def reply(self, ok: bool, message: str) -> None:
        """What the browser tab shows (nothing happens for a pasted address)."""
        if not self._ready.is_set():
            self._answer.append((ok, message))
            self._ready.set()

    def wait_reply(self, timeout: float, closing: threading.Event) -> tuple[bool, str]:
        deadline = time.monotonic() + timeout
        while not self._ready.wait(0.1):
            if closing.is_set():
                return False, "This sign-in has already ended; see the terminal."
            if time.monotonic() > deadline:
                return False, "The sign-in is taking long; see the terminal for how it ends."
        return self._answer[0]


def page(ok: bool, message: str) -> bytes:
    title = "ag2api: account added" if ok else "ag2api: sign-in failed"
    return (
        f"<!doctype html><meta charset='utf-8'><title>{title}</title>"
        f"<h1>{title}</h1><p>{html.escape(message)}</p>\n"
    ).encode()


class _Handler(http.server.BaseHTTPRequestHandler):
    arrivals: queue.Queue[Arrival]
    path_prefix: str
    closing: threading.Event

    def do_GET(self) -> None:
        if urllib.parse.urlparse(self.path).path != self.path_prefix:
            self.send_error(404)
            return
        arrival = Arrival(f"http://127.0.0.1{self.path}")
        self.arrivals.put(arrival)
        ok, message = arrival.wait_reply(REPLY_WAIT, self.closing)
        body = page(ok, message)
        self.send_response(200 if ok else 400)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # keep the terminal clean
        pass


class _Server(http.server.ThreadingHTTPServer):
    # Closing waits for the pages being written: the process must not end mid-answer.
    daemon_threads = False
    block_on_close = True


class CallbackServer:
    """Bound before the address is shown, so no redirect is lost."""

    def __init__(self, port: int, path: str) -> None:
        self.arrivals: queue.Queue[Arrival] = queue.Queue()
        self.closing = threading.Event()
        handler = type(
            "Callback",
            (_Handler,),
            {"arrivals": self.arrivals, "path_prefix": path, "closing": self.closing},
        )
        try:
            self.server = _Server(("127.0.0.1", port), handler)
        except OSError as exc:
            raise GoogleCallFailed(
                f"Cannot listen on 127.0.0.1:{port} ({exc.strerror}); free the port or pass --port."
            ) from None
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait(self, timeout: float, paste: bool) -> Arrival:
        """The first redirect, from the browser or (headless) pasted on standard input."""
        if paste:
            threading.Thread(target=self._read_stdin, daemon=True).start()
        try:
            return self.arrivals.get(timeout=timeout)
        except queue.Empty:
            raise GoogleCallFailed(f"No authorization arrived within {timeout:.0f}s.") from None

    def _read_stdin(self) -> None:
        line = sys.stdin.readline()
        if line.strip():
            self.arrivals.put(Arrival(line.strip()))

    def close(self) -> None:
        """Stop listening once every page is written (a later arrival, e.g. a reload of the
        tab, is told the sign-in has ended)."""
        self.closing.set()
        self.server.shutdown()
        self.server.server_close()
