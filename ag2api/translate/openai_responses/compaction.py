"""Codex's remote compaction (``remote_compaction_v2``), served by the model itself.

Codex asks for a compaction with an ordinary streamed ``/responses`` request whose ``input`` ends
with ``{"type": "compaction_trigger"}`` (the whole history before it), and fails the task unless
the answer holds exactly one output item of type ``compaction`` and ends with
``response.completed``; later requests carry that item back in their ``input``. OpenAI's item is
encrypted server state. Ours is the model's own summary of the conversation, asked for with the
tools switched off, packed into ``encrypted_content`` (not a secret: it is the client's own
conversation) and read back as a user turn. Pure: strings and events in, strings and events out.
"""

from __future__ import annotations

import base64
import binascii
import zlib
from typing import Any

TRIGGER = "compaction_trigger"
ITEM = "compaction"
_PREFIX = "ag2api.compaction.v1:"
_MAX_SUMMARY = 1 << 20  # bytes a packed summary may inflate to

PROMPT = (
    "The conversation above is about to be replaced by a summary, so that the work can go on "
    "in a fresh context. Write that summary now, as a handoff to whoever continues: the user's "
    "goals, requests and constraints (quote exact wording where it matters); what has been done "
    "so far, with the files, commands, results and errors that matter; decisions taken and why; "
    "the current state; and what remains to do next. Be complete but concise. Do not call any "
    "tool and do not continue the task: answer with the summary only."
)
NO_SUMMARY = "The model wrote no summary to compact to."
SUMMARY_INTRO = "Summary of the earlier part of this conversation (it was compacted):\n\n"


def ask_for_summary(contents: list[dict[str, Any]]) -> None:
    """The prompt goes last, in a user turn of its own or after the last user turn's parts
    (tool results included), once the request is otherwise complete."""
    if contents and contents[-1].get("role") == "user":
        contents[-1]["parts"].append({"text": PROMPT})
    else:
        contents.append({"role": "user", "parts": [{"text": PROMPT}]})


def pack(summary: str) -> str:
    data = zlib.compress(summary.encode("utf-8"))
    return _PREFIX + base64.urlsafe_b64encode(data).decode("ascii")


def unpack(value: object) -> str | None:
    """The summary a compaction item of ours carries; None for another server's item (OpenAI's
    encrypted state means nothing here) or a damaged one."""
    if not isinstance(value, str) or not value.startswith(_PREFIX):
        return None
    try:
        data = base64.b64decode(value[len(_PREFIX) :], altchars=b"-_", validate=True)
        inflate = zlib.decompressobj()
        text = inflate.decompress(data, _MAX_SUMMARY)
        if inflate.unconsumed_tail or not inflate.eof:
            return None  # larger than any summary we make, or cut short
        return text.decode("utf-8") or None
    except (binascii.Error, ValueError, zlib.error, UnicodeDecodeError):
        return None
