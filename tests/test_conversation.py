"""Recognising a conversation from what each client sends (ag2api/conversation.py)."""

from __future__ import annotations

import json

from tornado.httputil import HTTPHeaders

from ag2api.conversation import (
    chat_first_turn,
    claude_session,
    conversation_id,
    gemini_first_turn,
    messages_first_turn,
    responses_first_turn,
)

SESSION = "f9c2da22-1ca9-4a78-83c3-a36763687f83"
NO_HEADERS = HTTPHeaders()


def test_claude_code_session_from_the_header_or_metadata() -> None:
    user_id = json.dumps({"device_id": "d" * 64, "account_uuid": "", "session_id": SESSION})
    legacy = f"user_{'a' * 64}_account_{'b' * 8}_session_{SESSION}"
    body = {"messages": [{"role": "user", "content": "hi"}]}
    by_header = conversation_id(
        messages_first_turn, HTTPHeaders({"X-Claude-Code-Session-Id": SESSION}), body, "k"
    )
    by_json = conversation_id(
        messages_first_turn, NO_HEADERS, {**body, "metadata": {"user_id": user_id}}, "k"
    )
    by_legacy = conversation_id(
        messages_first_turn, NO_HEADERS, {**body, "metadata": {"user_id": legacy}}, "k"
    )
    assert by_header is not None and by_header == by_json == by_legacy
    assert not by_header.started  # a stated id: always looked up
    assert SESSION not in by_header.id and len(by_header.id) == 24
    assert claude_session({"user_id": "not json {"}) is None


def test_codex_header_and_prompt_cache_key_and_openai_user() -> None:
    body = {"input": [{"role": "user", "content": "hi"}]}
    header = conversation_id(responses_first_turn, HTTPHeaders({"session-id": SESSION}), body, "k")
    older = conversation_id(responses_first_turn, HTTPHeaders({"session_id": SESSION}), body, "k")
    cache_key = conversation_id(
        responses_first_turn, NO_HEADERS, {**body, "prompt_cache_key": SESSION}, "k"
    )
    user = conversation_id(chat_first_turn, NO_HEADERS, {"user": "alice", "messages": []}, "k")
    assert header is not None and header == older
    assert cache_key is not None and user is not None
    assert len({header.id, cache_key.id, user.id}) == 3


def test_without_an_id_the_first_turn_names_it() -> None:
    def body(*turns: str) -> dict[str, object]:
        contents = [
            {"role": "user" if i % 2 == 0 else "model", "parts": [{"text": t}]}
            for i, t in enumerate(turns)
        ]
        return {
            "systemInstruction": {"parts": [{"text": "You are a CLI agent"}]},
            "contents": contents,
        }

    first = conversation_id(gemini_first_turn, NO_HEADERS, body("fix the bug"), "k")
    later = conversation_id(
        gemini_first_turn, NO_HEADERS, body("fix the bug", "done", "thanks"), "k"
    )
    other = conversation_id(gemini_first_turn, NO_HEADERS, body("write docs"), "k")
    elsewhere = conversation_id(gemini_first_turn, NO_HEADERS, body("fix the bug"), "key-2")
    assert first is not None and later is not None and other is not None and elsewhere is not None
    assert first.id == later.id and first.started and not later.started
    assert len({first.id, other.id, elsewhere.id}) == 3  # another prompt, another key
    chat = {
        "messages": [
            {"role": "system", "content": "sys"},
            {"role": "user", "content": [{"type": "text", "text": "q"}]},
        ]
    }
    assert chat_first_turn(chat) == ("sys", "q", False)
    assert conversation_id(chat_first_turn, NO_HEADERS, {"messages": []}, "k") is None
