"""An in-process fake of the Antigravity backend and Google's token endpoint (docs/protocol.md
§9).

Used by the tests and by ``ag2api --demo``. It checks what the real server checks (bearer token,
project, model, client version), answers with the protocol's literal error bodies, and can be
scripted per request: an error status, custom events, a drop or a stall mid-stream, a held stream.
Its content filter (off unless set) refuses chosen system prompts as the real backend does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tornado.httpserver import HTTPServer
from tornado.netutil import bind_sockets
from tornado.web import Application

from ag2api.testing.fake_bench import (
    BenchAnswer,
    BenchGenerateHandler,
    DirectChatHandler,
    DirectMessagesHandler,
)
from ag2api.testing.fake_generate import (
    CountTokensHandler,
    GenerateHandler,
    ModelsHandler,
    QuotaSummaryHandler,
)
from ag2api.testing.fake_google import (
    ApproveHandler,
    ConsentHandler,
    FileHandler,
    LoadCodeAssistHandler,
    OnboardHandler,
    TokenHandler,
    UserInfoHandler,
)
from ag2api.testing.fake_state import FakeAccount, FakeBackend, Recorded, Step

__all__ = ["FakeAccount", "FakeUpstream", "Recorded", "Step"]


@dataclass
class FakeUpstream(FakeBackend):
    """The fake served on loopback ports (one per simulated host)."""

    _servers: list[HTTPServer] = field(default_factory=list)

    async def start(
        self,
        hosts: int = 1,
        address: str = "127.0.0.1",
        port: int = 0,
        bench: BenchAnswer | None = None,
        ssl_options: Any = None,
    ) -> None:
        """Listen on ``hosts`` ports; with ``bench``, serve its fixed answer as fast as possible."""
        scheme = "https" if ssl_options else "http"
        for i in range(hosts):
            label = chr(ord("a") + i)
            routes = _bench_routes() if bench else _routes()
            app = Application(routes, fake=self, host_label=label, bench=bench)
            sockets = bind_sockets(port if i == 0 else 0, address)
            server = HTTPServer(app, ssl_options=ssl_options)
            server.add_sockets(sockets)
            self._servers.append(server)
            self.urls.append(f"{scheme}://{address}:{sockets[0].getsockname()[1]}")

    async def stop(self) -> None:
        for server in self._servers:
            server.stop()
            await server.close_all_connections()
        self._servers.clear()


def _bench_routes() -> list[Any]:
    return [
        (r"/v1internal:streamGenerateContent", BenchGenerateHandler, {"stream": True}),
        (r"/v1internal:generateContent", BenchGenerateHandler, {"stream": False}),
        (r"/v1/chat/completions", DirectChatHandler),
        (r"/v1/messages", DirectMessagesHandler),
        *[r for r in _routes() if not r[0].endswith("GenerateContent")],
    ]


def _routes() -> list[Any]:
    return [
        (r"/v1internal:streamGenerateContent", GenerateHandler, {"stream": True}),
        (r"/v1internal:generateContent", GenerateHandler, {"stream": False}),
        (r"/v1internal:fetchAvailableModels", ModelsHandler),
        (r"/v1internal:retrieveUserQuotaSummary", QuotaSummaryHandler),
        (r"/v1internal:loadCodeAssist", LoadCodeAssistHandler),
        (r"/v1internal:onboardUser", OnboardHandler),
        (r"/v1internal:countTokens", CountTokensHandler),
        (r"/token", TokenHandler),
        (r"/oauth2/v2/userinfo", UserInfoHandler),
        (r"/o/oauth2/v2/auth", ConsentHandler),
        (r"/o/oauth2/v2/auth/approve", ApproveHandler),
        (r"/files/(.+)", FileHandler),
    ]
