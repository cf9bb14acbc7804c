"""``previous_response_id`` and ``store``, as pure functions the handler wraps with store I/O.

A stored record is ``{"response": <the response object>, "input": [<every input item, with
ids>]}``: the input already holds the history the request continued, so one lookup expands a
conversation of any length (bounded by the store's size, see ``ag2api/responses_store.py``).
``instructions`` are not inherited, as with OpenAI.
"""

from __future__ import annotations

from typing import Any, Protocol

from ag2api.errors import GatewayError, InvalidRequest
from ag2api.ids import random_hex
from ag2api.translate.openai_responses.items import as_items

PARAM = "previous_response_id"
_ID_PREFIX = {
    "message": "msg",
    "function_call": "fc",
    "function_call_output": "fco",
    "custom_tool_call": "ctc",
    "custom_tool_call_output": "ctco",
    "reasoning": "rs",
}


class Finished(Protocol):
    @property
    def final(self) -> dict[str, Any] | None: ...


def recall(body: dict[str, Any]) -> str | None:
    ref = body.get(PARAM)
    if ref is None:
        return None
    if not isinstance(ref, str) or not ref:
        raise InvalidRequest(f"'{PARAM}' must be a non-empty string", param=PARAM)
    return ref


def expand(body: dict[str, Any], stored: dict[str, Any] | None) -> dict[str, Any]:
    """The body whose ``input`` starts with the stored conversation; references resolved."""
    ref = recall(body)
    items = as_items(body.get("input"))
    history: list[dict[str, Any]] = []
    if ref is not None:
        if stored is None:
            raise GatewayError(
                f"Previous response with id '{ref}' not found.",
                param=PARAM,
                kind="previous_response_not_found",
            )
        history = [*stored.get("input", ()), *stored["response"].get("output", ())]
    if not history and not any(i.get("type") == "item_reference" for i in items):
        return body
    by_id = {item["id"]: item for item in history if isinstance(item.get("id"), str)}
    resolved = [
        by_id.get(item.get("id"), item) if item.get("type") == "item_reference" else item
        for item in items
    ]
    return {**body, "input": [*history, *resolved]}


def keep(body: dict[str, Any], answer: Finished) -> tuple[str, dict[str, Any]] | None:
    """What to store once the answer is complete (``store`` defaults to true, as with OpenAI)."""
    response = answer.final
    if body.get("store") is False or response is None or response.get("status") == "failed":
        return None
    # A compaction_trigger asked for this answer; continuing the conversation must not repeat it.
    items = [i for i in as_items(body.get("input")) if i.get("type") != "compaction_trigger"]
    return response["id"], {"response": response, "input": with_ids(items)}


def with_ids(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Input items as stored and listed: each with an id and a type (messages' text as parts)."""
    out = []
    for item in items:
        kind = item.get("type") or "message"
        if isinstance(item.get("id"), str):
            fixed = dict(item)
        else:
            fixed = {**item, "id": f"{_ID_PREFIX.get(kind, 'item')}_{random_hex(24)}"}
        fixed["type"] = kind
        if kind == "message" and isinstance(fixed.get("content"), str):
            part = "output_text" if fixed.get("role") == "assistant" else "input_text"
            fixed["content"] = [{"type": part, "text": fixed["content"]}]
        out.append(fixed)
    return out
