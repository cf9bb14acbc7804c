"""Multi-turn conversations shaped like the real clients' (docs/clients/recorded-requests.md),
each turn replaying the whole history as they do, over raw HTTP:

* :class:`ClaudeCode` — ``/v1/messages`` with ``X-Claude-Code-Session-Id`` and the session in
  ``metadata.user_id`` (a JSON string);
* :class:`Codex` — ``/v1/responses`` with the ``session-id`` header and ``prompt_cache_key``;
* :class:`GeminiCli` — ``:generateContent`` with no id at all (only its prompt tells it apart).

Each user message carries a marker, so :func:`served_by` finds which accounts its turn went to.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx

from ag2api.testing import fake_bodies as bodies
from ag2api.testing.fake_upstream import FakeUpstream
from tests.support.clients import API_KEY

MODEL = "gemini-2.5-flash"


class ClaudeCode:
    def __init__(self, model: str = "claude-sonnet-4-5") -> None:
        self.session = str(uuid.uuid4())
        self.model = model
        self.messages: list[dict[str, Any]] = []

    async def turn(self, http: httpx.AsyncClient, base_url: str, text: str) -> httpx.Response:
        self.messages.append({"role": "user", "content": [{"type": "text", "text": text}]})
        user_id = {"device_id": "d" * 64, "account_uuid": "", "session_id": self.session}
        body = {
            "model": self.model,
            "max_tokens": 4096,
            "system": [{"type": "text", "text": "You are Claude Code, Anthropic's CLI."}],
            "messages": self.messages,
            "metadata": {"user_id": json.dumps(user_id)},
            "stream": False,
        }
        headers = {
            "x-api-key": API_KEY,
            "X-Claude-Code-Session-Id": self.session,
            "anthropic-version": "2023-06-01",
        }
        answer = await http.post(base_url + "/v1/messages", json=body, headers=headers)
        if answer.status_code == 200:
            self.messages.append({"role": "assistant", "content": answer.json()["content"]})
        return answer


class Codex:
    def __init__(self, model: str = MODEL) -> None:
        self.session = str(uuid.uuid4())
        self.model = model
        self.items: list[dict[str, Any]] = []

    async def turn(self, http: httpx.AsyncClient, base_url: str, text: str) -> httpx.Response:
        self.items.append({"type": "message", "role": "user", "content": text})
        body = {
            "model": self.model,
            "instructions": "You are Codex, a coding agent.",
            "input": self.items,
            "prompt_cache_key": self.session,
            "store": False,
            "stream": False,
        }
        headers = {"Authorization": f"Bearer {API_KEY}", "session-id": self.session}
        answer = await http.post(base_url + "/v1/responses", json=body, headers=headers)
        if answer.status_code == 200:
            self.items += answer.json()["output"]
        return answer


class GeminiCli:
    def __init__(self, model: str = MODEL) -> None:
        self.model = model
        self.contents: list[dict[str, Any]] = []
        self.setup = f"<session_context>\nThis is the Gemini CLI. Folder {uuid.uuid4()}"

    async def turn(self, http: httpx.AsyncClient, base_url: str, text: str) -> httpx.Response:
        parts = [{"text": text}] if self.contents else [{"text": self.setup}, {"text": text}]
        self.contents.append({"role": "user", "parts": parts})
        body = {
            "contents": self.contents,
            "systemInstruction": {"parts": [{"text": "You are an interactive CLI agent."}]},
        }
        url = f"{base_url}/v1beta/models/{self.model}:generateContent"
        answer = await http.post(url, json=body, headers={"x-goog-api-key": API_KEY})
        if answer.status_code == 200:
            self.contents.append(answer.json()["candidates"][0]["content"])
        return answer


async def one_shot(http: httpx.AsyncClient, base_url: str, text: str, model: str = MODEL) -> None:
    """A request of no conversation (it takes a rotation turn)."""
    answer = await http.post(
        base_url + "/v1/chat/completions",
        json={"model": model, "messages": [{"role": "user", "content": text}]},
        headers={"Authorization": f"Bearer {API_KEY}"},
    )
    assert answer.status_code == 200, answer.text


def served_by(fake: FakeUpstream, marker: str) -> list[str]:
    """The projects the generate requests of the turn marked ``marker`` went to, in order."""
    return [
        r.body["project"]
        for r in fake.generate_requests()
        if marker in bodies.last_user_text(r.body.get("request") or {})
    ]
