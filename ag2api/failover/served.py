"""What one client request is served: the model and Gemini request its attempt uses
(:class:`Served`), what counts as an answer (:func:`has_content`), and the upstream stream handed
to the handler once its first content has arrived (:class:`OpenedStream`)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from ag2api.config.schema import GatewayConfig
from ag2api.state.base import Grant
from ag2api.translate.gemini.events import CONTENT_FILTER_REASONS, candidate_parts, prompt_blocked
from ag2api.upstream.client import UpstreamTransfer
from ag2api.upstream.sensitive_words import obscure_system


@dataclass
class OpenedStream:
    """A stream whose first content has arrived; :meth:`batches` yields it and the rest."""

    grant: Grant
    pending: list[dict[str, Any]]  # read while checking the stream is not empty
    transfer: UpstreamTransfer

    @property
    def model(self) -> str:
        """The model that serves (the one asked, or a fallback)."""
        return self.grant.model

    async def batches(self) -> AsyncIterator[list[dict[str, Any]]]:
        """Events in the batches they arrived in: whatever is already queued goes out in one
        write instead of one per event."""
        transfer = self.transfer
        pending, self.pending = self.pending, []
        pending += transfer.take_ready()  # what arrived with the first content: the same write
        yield pending
        async for event in transfer:
            ready = transfer.take_ready()
            yield [event, *ready] if ready else [event]


@dataclass
class Served:
    """What the attempt under way uses: its model (the one asked, or a fallback), whether it
    pays with credits, and the Gemini request for each model (translated when first needed)."""

    model: str
    request: dict[str, Any]
    translate: Callable[[str], dict[str, Any]] | None = None
    credits: bool = False
    _requests: dict[str, dict[str, Any]] = field(default_factory=dict)

    def request_for(self, cfg: GatewayConfig, model: str) -> dict[str, Any]:
        found = self._requests.get(model)
        if found is None:
            raw = self.request if self.translate is None else self.translate(model)
            found = self._requests[model] = obscure_system(raw, cfg.upstream.sensitive_matcher)
        return found


def has_content(event: dict[str, Any]) -> bool:
    """Whether a stream event carries an answer: a part, a blocked prompt or a safety stop.
    Events before such a one (usage only, empty candidates) are held back, so that a stream that
    ends without content fails over like an error instead of reaching the client as an empty 200.
    """
    if prompt_blocked(event):
        return True
    parts, reason = candidate_parts(event)
    return bool(parts) or reason in CONTENT_FILTER_REASONS
