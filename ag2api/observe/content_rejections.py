"""The latest requests whose system prompt the upstream refused, for the admin views.

Kept in memory and bounded; each entry says when, which model and which client key (by its
label) — never anything of the prompt. With several workers each keeps its own.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from ag2api.errors import CONTENT_REJECTED
from ag2api.observe.trace import RequestTrace

KEEP = 50


@dataclass(frozen=True)
class ContentRejection:
    at: float  # epoch seconds
    model: str | None
    key: str | None  # the client key's label
    route: str | None
    request_id: str


class RecentRejections:
    def __init__(self, keep: int = KEEP) -> None:
        self._latest: deque[ContentRejection] = deque(maxlen=keep)
        self.total = 0

    def observe(self, trace: RequestTrace) -> None:
        """Called for every finished request; notes the refused ones."""
        if trace.error_type != CONTENT_REJECTED:
            return
        self.total += 1
        self._latest.append(
            ContentRejection(
                trace.wall_time, trace.model, trace.key_label, trace.route, trace.request_id
            )
        )

    def latest(self) -> list[ContentRejection]:
        """Newest first."""
        return list(reversed(self._latest))
