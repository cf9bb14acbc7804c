"""The Gemini API answer: the upstream responses themselves, chunk by chunk.

Each upstream chunk (out of the envelope: candidates, usageMetadata, modelVersion, responseId,
grounding metadata …) goes to the client as it is, thought parts and signatures included: the
client owns them. No typed event carries all of that, so this answer passes :attr:`Reply.body` on
rather than rendering :attr:`Reply.events`. The one change: where the gateway adapted a tool's
schema (Claude's placeholder property, enum members the backend takes only as strings) the call
arguments are restored. Claude's thinking is also recorded by its signature, for a client that
replays the signature without the thinking (``thinking``).
"""

from __future__ import annotations

from typing import Any

from ag2api.translate.dialect import SseEvent, openai_usage
from ag2api.translate.gemini.events import Reply, candidate_parts
from ag2api.translate.gemini_api.thinking import ThinkingLedger
from ag2api.translate.signatures import ThinkingRecord
from ag2api.translate.typed_args import ArgFix, restore_args


class GeminiAnswer:
    __slots__ = ("_fixes", "_ledger", "_usage")

    def __init__(self, fixes: dict[str, ArgFix], *, claude: bool = False) -> None:
        self._fixes = fixes
        self._usage: dict[str, Any] | None = None
        self._ledger = ThinkingLedger() if claude else None

    def feed(self, reply: Reply) -> list[SseEvent]:
        return [(None, self._pass(reply.body))]

    def finish(self) -> list[SseEvent]:
        return []

    def whole(self, reply: Reply) -> dict[str, Any]:
        return self._pass(reply.body)

    def usage(self) -> dict[str, Any]:
        """OpenAI-shaped usage of the last ``usageMetadata`` seen (it is cumulative): the log,
        metrics and statistics speak it for every dialect."""
        return openai_usage(self._usage)

    def thinking_records(self) -> dict[str, ThinkingRecord]:
        return self._ledger.records if self._ledger is not None else {}

    def _pass(self, chunk: dict[str, Any]) -> dict[str, Any]:
        meta = chunk.get("usageMetadata")
        if isinstance(meta, dict):
            self._usage = meta
        if self._ledger is not None:
            for part in candidate_parts(chunk)[0]:
                self._ledger.note(part)
        if self._fixes:
            self._restore(chunk)
        return chunk

    def _restore(self, chunk: dict[str, Any]) -> None:
        for cand in chunk.get("candidates") or ():
            content = cand.get("content") if isinstance(cand, dict) else None
            for part in (content.get("parts") if isinstance(content, dict) else None) or ():
                call = part.get("functionCall") if isinstance(part, dict) else None
                if isinstance(call, dict) and isinstance(call.get("args"), dict):
                    call["args"] = restore_args(self._fixes, str(call.get("name")), call["args"])
