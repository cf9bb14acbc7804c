"""The routes whose answer is fixed: unknown paths (a 404 in the right dialect), client probes,
telemetry to drop."""

from __future__ import annotations

from ag2api.errors import NotFound
from ag2api.handlers.base import DialectHandler
from ag2api.translate import DIALECTS, Dialect


class NotFoundHandler(DialectHandler):
    """Any unknown path: a 404 in the shape of the dialect whose namespace it is under (the
    Gemini API's ``/v1beta/``), else OpenAI's — never Tornado's HTML page."""

    auth_required = False

    def initialize(self, dialect: Dialect | None = None) -> None:
        path = self.request.path
        super().initialize(
            next((d for d in DIALECTS if d.namespace and path.startswith(d.namespace)), None)
        )

    def authorize(self) -> None:
        super().authorize()  # takes a ?key= out of the request before anything logs it
        raise NotFound(f"Unknown path {self.request.path}")


class ProbeHandler(DialectHandler):
    """A client's connectivity check (Claude Code warms its connection): 200, no key needed."""

    auth_required = False

    def head(self) -> None:
        self.set_status(200)
        self.finish()

    def get(self) -> None:
        self.write_json({"status": "ok"})


class DiscardHandler(DialectHandler):
    """A client's telemetry batches: accepted and dropped."""

    def post(self) -> None:
        self.write_json({"status": "ok"})
