"""How an upstream answer ended, noted from its typed events as they pass: every dialect's
stream renders its closing events (stop reason, usage) from these three."""

from __future__ import annotations

from dataclasses import dataclass

from ag2api.translate.gemini.events import Blocked, Event, Finish, Usage


@dataclass(slots=True)
class Outcome:
    finish: str | None = None  # the upstream finishReason, once sent
    usage: Usage | None = None  # the latest (cumulative) usageMetadata
    blocked: bool = False  # the prompt was blocked

    def note(self, event: Event) -> bool:
        """Record ``event`` when it is a finish, usage or block; whether it was one."""
        if isinstance(event, Finish):
            self.finish = event.reason
        elif isinstance(event, Usage):
            self.usage = event
        elif isinstance(event, Blocked):
            self.blocked = True
        else:
            return False
        return True
