"""The Gemini API answer the completion handler drives (``translate.dialect.Answer``): each
upstream chunk rendered from its typed events (``render``), one stream element each
(``stream``), thought parts and signatures included — the client owns them.

Claude's thinking is also recorded by its signature, for a client that replays the signature
without the thinking (``thinking``).
"""

from __future__ import annotations

from typing import Any

from ag2api.translate.dialect import SseEvent, openai_usage
from ag2api.translate.gemini.events import Reply, Usage
from ag2api.translate.gemini_api import render, stream
from ag2api.translate.gemini_api.thinking import ThinkingLedger
from ag2api.translate.signatures import ThinkingRecord
from ag2api.translate.typed_args import ArgFix


class GeminiAnswer:
    __slots__ = ("_fixes", "_ledger", "_usage")

    def __init__(self, fixes: dict[str, ArgFix], *, claude: bool = False) -> None:
        self._fixes = fixes
        self._usage: Usage | None = None
        self._ledger = ThinkingLedger() if claude else None

    def feed(self, reply: Reply) -> list[SseEvent]:
        self._note(reply)
        return [stream.element(reply, self._fixes)]

    def finish(self) -> list[SseEvent]:
        return []

    def whole(self, reply: Reply) -> dict[str, Any]:
        self._note(reply)
        return render.response(reply.events, reply.meta, self._fixes)

    def usage(self) -> dict[str, Any]:
        """OpenAI-shaped usage of the last ``usageMetadata`` seen (it is cumulative): the log,
        metrics and statistics speak it for every dialect."""
        return openai_usage(self._usage)

    def thinking_records(self) -> dict[str, ThinkingRecord]:
        return self._ledger.records if self._ledger is not None else {}

    def _note(self, reply: Reply) -> None:
        ledger = self._ledger
        for event in reply.events:
            if type(event) is Usage:
                self._usage = event
            elif ledger is not None:
                ledger.note(event)
