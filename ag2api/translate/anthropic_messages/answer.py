"""The Anthropic answer as the completion handler drives it (``translate/dialects.Answer``).

Per request: upstream chunks (out of the envelope) → typed events → Anthropic SSE events or the
whole message. Stateless across requests: thinking and call signatures travel to the client
(``signatures``), so ``thinking_records`` is always empty.
"""

from __future__ import annotations

import re
from typing import Any

from ag2api.translate.anthropic_messages.request import RequestInfo
from ag2api.translate.anthropic_messages.response import to_message
from ag2api.translate.anthropic_messages.stream import MessagesStreamTranslator, SseEvent
from ag2api.translate.gemini import events as gemini
from ag2api.translate.gemini.events import Usage
from ag2api.translate.openai_usage import openai_usage
from ag2api.translate.signatures import ThinkingRecord

# Claude Code's 1M-context marker leaks into model names on some paths, sometimes twice.
_CONTEXT_SUFFIX = re.compile(r"(\[1m\])+$", re.I)


def client_model(name: str) -> str:
    """The model name without a trailing ``[1m]`` (docs/clients/claude-code.md, "Model names")."""
    return _CONTEXT_SUFFIX.sub("", name)


class MessagesAnswer:
    __slots__ = ("_info", "_message_id", "_name", "_stream", "_usage")

    def __init__(self, name: str, info: RequestInfo, message_id: str) -> None:
        self._name = name  # the model name the client asked for, echoed back
        self._info = info
        self._message_id = message_id
        self._stream = MessagesStreamTranslator(name, info, message_id)
        self._usage: Usage | None = None

    def feed(self, chunk: dict[str, Any]) -> list[SseEvent]:
        events = gemini.read(chunk)
        self._note_usage(events)
        return self._stream.feed(events)

    def finish(self) -> list[SseEvent]:
        return self._stream.finish()

    def whole(self, response: dict[str, Any]) -> dict[str, Any]:
        events = gemini.read(response)
        self._note_usage(events)
        return to_message(events, model=self._name, info=self._info, message_id=self._message_id)

    def usage(self) -> dict[str, Any]:
        """OpenAI-shaped usage (the log, metrics and statistics speak it for every dialect)."""
        return openai_usage(self._usage)

    def thinking_records(self) -> dict[str, ThinkingRecord]:
        return {}

    def _note_usage(self, events: list[gemini.Event]) -> None:
        for event in events:
            if isinstance(event, Usage):
                self._usage = event
