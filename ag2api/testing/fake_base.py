"""Pieces every fake endpoint shares: the request record and the handler base."""

from __future__ import annotations

import json
import uuid
from typing import Any

from tornado.web import RequestHandler

from ag2api.testing import fake_bodies as bodies
from ag2api.testing.fake_state import FakeAccount, FakeBackend, Recorded


class FakeHandler(RequestHandler):
    @property
    def fake(self) -> FakeBackend:
        return self.settings["fake"]

    def record(self) -> Any:
        try:
            body = json.loads(self.request.body) if self.request.body else None
        except ValueError:
            body = self.request.body
        stream = self.request.connection.stream  # type: ignore[union-attr]
        peer = stream.socket.getpeername() if stream.socket is not None else None
        label, uri = self.settings["host_label"], self.request.uri or ""
        self.fake.note(Recorded(label, uri, dict(self.request.headers), body, peer))
        return body

    def fail(self, status: int, body: Any, *, sse_type: bool = False) -> None:
        self.set_status(status)
        # Errors on the stream endpoint keep the event-stream type with a plain JSON body
        # (docs/protocol.md §3.1).
        self.set_header("Content-Type", "text/event-stream" if sse_type else "application/json")
        self.set_header("X-Cloudaicompanion-Trace-Id", uuid.uuid4().hex[:16])
        self.finish(json.dumps(body) if not isinstance(body, bytes) else body)

    def check_auth(self, sse_type: bool = False) -> FakeAccount | None:
        account = self.fake.account_for(self.request.headers.get("Authorization", ""))
        if account is None:
            self.fail(401, bodies.UNAUTHENTICATED, sse_type=sse_type)
        return account
