"""Claude's signed thinking on the Gemini API path.

The Gemini API hands Claude's thinking to the client as it comes — thought parts, then a part
holding only the signature — and the client owns the history. Gemini CLI drops thought parts
when it replays a turn and keeps the signature part, so a tool-calling turn comes back as
``[{"thoughtSignature": <Claude's>}, {"functionCall": …}]``; with thinking on, Claude rejects the
open tool loop's turns unless they start with the signed thinking block it issued ("Expected
`thinking` or `redacted_thinking`, but found `tool_use`").

So, for Claude, the answer records each thinking block under its signature
(:class:`ThinkingLedger`, kept by the gateway like the OpenAI path's records), and the request
gives a turn of the open loop its thinking back from the signature it still carries
(:func:`restore_thinking`). Signature-only parts never go to Claude. When a record is unknown
(another gateway, or records gone), the loop is closed instead (``gemini.turns``), never forged.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ag2api.models.families import SENTINEL
from ag2api.translate.gemini.events import Event, Signature, Thought, ToolCall
from ag2api.translate.gemini.turns import merge_turns, open_loop
from ag2api.translate.signatures import ThinkingRecord, thinking_key

Lookup = Callable[[str], ThinkingRecord | None]


def signature_of(part: dict[str, Any]) -> str | None:
    sig = part.get("thoughtSignature") or part.get("thought_signature")
    return sig if isinstance(sig, str) and sig and sig != SENTINEL else None


def signature_only(part: dict[str, Any]) -> bool:
    """A part whose only content is a signature (an empty text at most)."""
    rest = set(part) - {"thoughtSignature", "thought_signature", "text", "thought"}
    return not rest and not part.get("text") and not part.get("thought")


class ThinkingLedger:
    """What a Claude answer signed, read from its events as they pass: thinking text → signature."""

    __slots__ = ("_text", "records")

    def __init__(self) -> None:
        self._text: list[str] = []
        self.records: dict[str, ThinkingRecord] = {}  # thinking_key(signature) → the block

    def note(self, event: Event) -> None:
        if type(event) is Thought:
            self._text.append(event.text)
        elif type(event) is Signature:
            self._close(event.value)
        elif type(event) is ToolCall and event.signature is not None and self._text:
            self._close(event.signature)  # a tool call signs the thinking only if nothing did

    def _close(self, signature: str) -> None:
        """The signature closes the thinking before it."""
        if signature != SENTINEL:
            self.records[thinking_key(signature)] = ThinkingRecord("".join(self._text), signature)
            self._text = []


def restore_thinking(contents: list[dict[str, Any]], lookup: Lookup | None) -> None:
    """Give each open-loop turn that does not start with thinking the block its signature was
    recorded with (in place); then drop the signature-only parts of every model turn."""
    if lookup is not None:
        for turn in open_loop(contents):
            parts = turn["parts"]
            if parts[0].get("thought"):
                continue
            for part in parts:
                sig = signature_of(part)
                record = lookup(thinking_key(sig)) if sig is not None else None
                if record is not None:
                    thought = {"text": record.text, "thought": True}
                    parts.insert(0, {**thought, "thoughtSignature": record.signature})
                    break
    for turn in contents:
        if turn["role"] == "model":
            turn["parts"] = [p for p in turn["parts"] if not signature_only(p)]
    contents[:] = merge_turns([t for t in contents if t["parts"]])
