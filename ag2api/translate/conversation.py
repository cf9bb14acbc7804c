"""Which conversation a request continues, from what the client sends (pure).

A conversation keeps to the account that served its previous turn (the upstream's prompt cache
lives there). It is recognised, first match wins, by:

1. Claude Code's ``X-Claude-Code-Session-Id`` header, or the ``session_id`` inside its
   ``metadata.user_id`` (a JSON string, or the older ``user_…_account_…_session_<uuid>``);
2. Codex's ``session-id`` header (older versions: ``session_id``, ``conversation_id``);
3. the body's ``prompt_cache_key`` (Codex, OpenAI clients), then OpenAI's ``user``;
4. otherwise the system prompt and the first user message (Gemini CLI sends no id at all). A
   request that holds nothing past that message starts a conversation: it is placed as any
   other request would be, and its next turn comes back to where it went (so one-shot requests
   that happen to repeat a prompt still spread over the pool).

The id is a hash that also covers the client key's id, so no raw key, session id or prompt is
kept, and two clients never share a conversation.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

Headers = Mapping[str, str]  # case-insensitive (Tornado's HTTPHeaders)
# A body's system prompt, its first user message, and whether it goes on past that message.
FirstTurn = Callable[[dict[str, Any]], tuple[str, str, bool]]

_LEGACY_SESSION = re.compile(r"_session_([0-9a-fA-F-]+)$")
_CLAUDE_HEADER = "x-claude-code-session-id"
_SESSION_HEADERS = (
    (_CLAUDE_HEADER, "claude"),
    ("session-id", "codex"),
    ("session_id", "codex"),
    ("conversation_id", "codex"),
)


@dataclass(frozen=True)
class Conversation:
    id: str  # a hash
    started: bool  # this request starts it: where it goes is decided afresh


def conversation_id(
    first_turn: FirstTurn, headers: Headers, body: dict[str, Any], client: str
) -> Conversation | None:
    """The conversation of a request for ``client`` (the key's non-secret id), or None when the
    request carries nothing to recognise it by."""
    found, started = _declared(headers, body), False
    if found is None:
        system, user, more = first_turn(body)
        if not system and not user:
            return None
        found, started = "first:" + system + "\x00" + user, not more
    digest = hashlib.sha256(f"ag2api-conversation\x00{client}\x00{found}".encode())
    return Conversation(digest.hexdigest()[:24], started)


def _declared(headers: Headers, body: dict[str, Any]) -> str | None:
    """An id the client states, with its kind; None when it states none."""
    # Which session headers came, from the names at once: every request asks, and most send
    # none (a case-insensitive lookup that misses costs as much as reading all the names).
    sent = {name.lower() for name in headers}
    header = _header(headers, "x-claude-code-session-id") if _CLAUDE_HEADER in sent else None
    if header:
        return "claude:" + header
    session = claude_session(body.get("metadata"))
    if session:
        return "claude:" + session
    for name, kind in _SESSION_HEADERS[1:]:
        value = _header(headers, name) if name in sent else None
        if value:
            return f"{kind}:{value}"
    for field, kind in (("prompt_cache_key", "pck"), ("user", "user")):
        value = body.get(field)
        if isinstance(value, str) and value.strip():
            return f"{kind}:{value.strip()}"
    return None


def _header(headers: Headers, name: str) -> str | None:
    value = headers.get(name)
    return value.strip() if isinstance(value, str) and value.strip() else None


def claude_session(metadata: Any) -> str | None:
    """The session in Anthropic ``metadata.user_id`` as Claude Code fills it."""
    user_id = metadata.get("user_id") if isinstance(metadata, dict) else None
    if not isinstance(user_id, str) or not user_id:
        return None
    if user_id.startswith("{"):
        try:
            parsed = json.loads(user_id)
        except ValueError:
            return None
        session = parsed.get("session_id") if isinstance(parsed, dict) else None
        return session if isinstance(session, str) and session else None
    legacy = _LEGACY_SESSION.search(user_id)
    return legacy.group(1) if legacy else None


# -- the first turn of each client API ---------------------------------------------------------
def text_of(content: Any) -> str:
    """The text of a message content in any dialect: a string, or blocks/parts with ``text``."""
    if isinstance(content, str):
        return content
    if isinstance(content, dict):
        return text_of(content.get("parts", content.get("content", content.get("text"))))
    if isinstance(content, list):
        return "\n".join(t for t in (text_of(item) for item in content) if t)
    return ""


def _first(items: Any, roles: tuple[str | None, ...]) -> Any:
    for item in items if isinstance(items, list) else ():
        if isinstance(item, dict) and item.get("role") in roles:
            return item
    return None


def _past_first(items: Any, system_roles: tuple[str, ...] = ()) -> bool:
    """Whether a list of turns holds more than one turn besides system ones."""
    turns = [i for i in items if not (isinstance(i, dict) and i.get("role") in system_roles)]
    return len(turns) > 1 if isinstance(items, list) else False


def chat_first_turn(body: dict[str, Any]) -> tuple[str, str, bool]:
    """OpenAI Chat Completions: the first system/developer message and the first user one."""
    messages = body.get("messages")
    system = _first(messages, ("system", "developer"))
    user = _first(messages, ("user",))
    return (
        text_of(system.get("content")) if system else "",
        text_of(user.get("content")) if user else "",
        _past_first(messages, ("system", "developer")),
    )


def messages_first_turn(body: dict[str, Any]) -> tuple[str, str, bool]:
    """Anthropic Messages: ``system`` and the first user message."""
    messages = body.get("messages")
    user = _first(messages, ("user",))
    return (
        text_of(body.get("system")),
        text_of(user.get("content")) if user else "",
        _past_first(messages),
    )


def responses_first_turn(body: dict[str, Any]) -> tuple[str, str, bool]:
    """OpenAI Responses: ``instructions`` and the first user input."""
    items = body.get("input")
    if isinstance(items, str):
        return text_of(body.get("instructions")), items, False
    user = _first(items, ("user",))
    return (
        text_of(body.get("instructions")),
        text_of(user.get("content")) if user else "",
        _past_first(items, ("system", "developer")),
    )


def gemini_first_turn(body: dict[str, Any]) -> tuple[str, str, bool]:
    """The Gemini API: ``systemInstruction`` and the first user content."""
    system = body.get("systemInstruction", body.get("system_instruction"))
    contents = body.get("contents")
    user = _first(contents, ("user", None))  # a single turn may leave its role out
    return text_of(system), text_of(user) if user else "", _past_first(contents)
