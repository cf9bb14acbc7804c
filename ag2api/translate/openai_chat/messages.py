"""OpenAI ``messages`` → Gemini ``systemInstruction`` parts and alternating ``contents``."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from ag2api.errors import InvalidRequest
from ag2api.translate.input import check_nesting
from ag2api.translate.signatures import ThinkingRecord, decode_call_id, new_tool_call_id

SignatureLookup = Callable[[str], ThinkingRecord | None]
_DATA_URL = re.compile(r"^data:([\w.+-]+/[\w.+-]+)(?:;[\w=.+-]+)*;base64,([A-Za-z0-9+/=\s]+)$")
ROLES = ("system", "developer", "user", "assistant", "tool", "function")


def convert_messages(
    messages: Any, *, is_claude: bool, signatures: SignatureLookup | None = None
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    if not isinstance(messages, list) or not messages:
        raise InvalidRequest("'messages' must be a non-empty array", param="messages")
    system: list[dict[str, Any]] = []
    turns: list[dict[str, Any]] = []
    calls: dict[str, str] = {}  # tool_call_id → function name, for tool results
    # Legacy function_call turns carry no id: name → ids given to calls not yet answered.
    pending: dict[str, list[str]] = {}
    for i, msg in enumerate(messages):
        if not isinstance(msg, dict) or msg.get("role") not in ROLES:
            raise InvalidRequest(
                f"messages[{i}] must be an object with role one of {', '.join(ROLES[:5])}",
                param="messages",
            )
        role = msg["role"]
        if role in ("system", "developer"):
            system.extend(_text_parts(msg.get("content"), i))
        elif role == "user":
            turns.append({"role": "user", "parts": _user_parts(msg.get("content"), i)})
        elif role == "assistant":
            parts = _assistant_parts(msg, i, calls, is_claude, signatures)
            parts.extend(_legacy_call(msg, i, pending))
            turns.append({"role": "model", "parts": parts})
        else:
            turns.append({"role": "user", "parts": [_tool_result(msg, i, calls, pending)]})
    contents = _merge([t for t in turns if t["parts"]])
    if not contents:
        raise InvalidRequest("'messages' has no user or assistant content", param="messages")
    if contents[0]["role"] == "model" and not is_claude:
        contents.insert(0, {"role": "user", "parts": [{"text": " "}]})
    return system, contents


def _merge(turns: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Gemini wants user/model turns to alternate: fold consecutive same-role turns together."""
    out: list[dict[str, Any]] = []
    for turn in turns:
        if out and out[-1]["role"] == turn["role"]:
            out[-1]["parts"].extend(turn["parts"])
        else:
            out.append({"role": turn["role"], "parts": list(turn["parts"])})
    return out


def _text_parts(content: Any, i: int) -> list[dict[str, Any]]:
    if content is None:
        return []
    if isinstance(content, str):
        return [{"text": content}] if content else []
    if not isinstance(content, list):
        raise InvalidRequest(
            f"messages[{i}].content must be a string or an array", param="messages"
        )
    parts: list[dict[str, Any]] = []
    for j, part in enumerate(content):
        text: Any
        if isinstance(part, str):
            text = part
        elif isinstance(part, dict) and part.get("type") in ("text", "input_text", "output_text"):
            text = part.get("text")
        elif isinstance(part, dict) and part.get("type") == "refusal":
            text = part.get("refusal")
        else:
            raise InvalidRequest(
                f"messages[{i}].content[{j}] must be a text part", param="messages"
            )
        if not isinstance(text, str):
            raise InvalidRequest(
                f"messages[{i}].content[{j}].text must be a string", param="messages"
            )
        if text:
            parts.append({"text": text})
    return parts


def _user_parts(content: Any, i: int) -> list[dict[str, Any]]:
    if not isinstance(content, list):
        return _text_parts(content, i)
    parts: list[dict[str, Any]] = []
    for j, part in enumerate(content):
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "image_url":
            parts.append(_image_part(part.get("image_url"), i, j))
        elif kind == "input_audio":
            audio = part.get("input_audio")
            if not isinstance(audio, dict) or not isinstance(audio.get("data"), str):
                raise InvalidRequest(
                    f"messages[{i}].content[{j}].input_audio needs data", param="messages"
                )
            mime = f"audio/{audio.get('format') or 'wav'}"
            parts.append({"inlineData": {"mimeType": mime, "data": audio["data"]}})
        elif kind == "file":
            file = part.get("file")
            data = file.get("file_data") if isinstance(file, dict) else None
            parts.append(_data_url_part(data, i, j, "file.file_data"))
        else:
            parts.extend(_text_parts([part], i))
    return parts


def _image_part(image: Any, i: int, j: int) -> dict[str, Any]:
    url = image.get("url") if isinstance(image, dict) else image
    if isinstance(url, str) and url.startswith(("http://", "https://")):
        raise InvalidRequest(
            f"messages[{i}].content[{j}].image_url: send images as data: URLs "
            "(data:image/png;base64,…); remote image URLs are not fetched by this gateway",
            param="messages",
        )
    return _data_url_part(url, i, j, "image_url.url")


def _data_url_part(url: Any, i: int, j: int, where: str) -> dict[str, Any]:
    match = _DATA_URL.match(url) if isinstance(url, str) else None
    if match is None:
        raise InvalidRequest(
            f"messages[{i}].content[{j}].{where} is not a valid base64 data: URL",
            param="messages",
        )
    return {"inlineData": {"mimeType": match.group(1), "data": re.sub(r"\s", "", match.group(2))}}


def _assistant_parts(
    msg: dict[str, Any],
    i: int,
    calls: dict[str, str],
    is_claude: bool,
    signatures: SignatureLookup | None,
) -> list[dict[str, Any]]:
    # reasoning_content is never sent back: it would come back to the model as visible text.
    parts = _text_parts(msg.get("content"), i)
    tool_calls = msg.get("tool_calls") or []
    if not isinstance(tool_calls, list):
        raise InvalidRequest(f"messages[{i}].tool_calls must be an array", param="messages")
    for k, tool_call in enumerate(tool_calls):
        fn = tool_call.get("function") if isinstance(tool_call, dict) else None
        if not isinstance(fn, dict) or not isinstance(fn.get("name"), str) or not fn["name"]:
            raise InvalidRequest(
                f"messages[{i}].tool_calls[{k}].function.name is required", param="messages"
            )
        client_id = (
            tool_call.get("id")
            if isinstance(tool_call.get("id"), str) and tool_call["id"]
            else None
        )
        client_id = client_id or new_tool_call_id()
        short_id, signature = decode_call_id(client_id)
        calls[client_id] = fn["name"]
        where = f"messages[{i}].tool_calls[{k}].function.arguments"
        part: dict[str, Any] = {
            "functionCall": {
                "id": short_id,
                "name": fn["name"],
                "args": parse_arguments(fn.get("arguments"), where),
            }
        }
        if is_claude:
            # Claude: replay the thinking block (its own signature) before the first tool call.
            record = signatures(client_id) if signatures and k == 0 else None
            if record is not None:
                parts.insert(
                    0, {"text": record.text, "thought": True, "thoughtSignature": record.signature}
                )
        elif signature:
            part["thoughtSignature"] = signature  # others get the sentinel (models.families)
        parts.append(part)
    return parts


def _legacy_call(
    msg: dict[str, Any], i: int, pending: dict[str, list[str]]
) -> list[dict[str, Any]]:
    """An assistant's deprecated ``function_call`` → a ``functionCall`` part (it has no id: one
    is made up, and the next ``role: "function"`` result with that name answers it; its
    signature had nowhere to travel, so Gemini gets the sentinel, see ``models.families``)."""
    legacy = msg.get("function_call")
    if legacy is None:
        return []
    name = legacy.get("name") if isinstance(legacy, dict) else None
    if not isinstance(name, str) or not name:
        raise InvalidRequest(
            f"messages[{i}].function_call.name is required",
            param=f"messages[{i}].function_call.name",
        )
    call_id = new_tool_call_id()
    pending.setdefault(name, []).append(call_id)
    args = parse_arguments(legacy.get("arguments"), f"messages[{i}].function_call.arguments")
    return [{"functionCall": {"id": call_id, "name": name, "args": args}}]


def _tool_result(
    msg: dict[str, Any], i: int, calls: dict[str, str], pending: dict[str, list[str]]
) -> dict[str, Any]:
    call_id = msg.get("tool_call_id") if msg["role"] == "tool" else None
    name = calls.get(call_id) if isinstance(call_id, str) else None
    if msg["role"] == "function":
        name = msg.get("name") if isinstance(msg.get("name"), str) and msg["name"] else None
        if name is None:
            raise InvalidRequest(
                f"messages[{i}].name must name the function", param=f"messages[{i}].name"
            )
        waiting = pending.get(name)
        call_id = waiting.pop(0) if waiting else None
    if name is None:
        raise InvalidRequest(
            f"messages[{i}].tool_call_id {call_id!r} matches no earlier assistant tool call",
            param="messages",
        )
    content = msg.get("content")
    if isinstance(content, list):
        content = "".join(p["text"] for p in _text_parts(content, i))
    elif content is not None and not isinstance(content, str):
        raise InvalidRequest(
            f"messages[{i}].content must be a string or an array", param=f"messages[{i}].content"
        )
    result = _maybe_json(content or "", f"messages[{i}].content")
    response: dict[str, Any] = {"name": name, "response": {"result": result}}
    if call_id:
        response["id"] = decode_call_id(call_id)[0]
    return {"functionResponse": response}


def _maybe_json(text: str, param: str) -> Any:
    stripped = text.strip()
    if stripped[:1] in ("{", "["):
        try:
            value = _loads(stripped, param)
        except ValueError:
            return text
        check_nesting(value, param)
        return value
    return text


def _loads(text: str, param: str) -> Any:
    try:
        return json.loads(text)
    except RecursionError as exc:
        raise InvalidRequest(f"'{param}' is nested too deeply", param=param) from exc


def parse_arguments(raw: Any, param: str = "arguments") -> dict[str, Any]:
    """Tool-call ``arguments`` (a JSON string) → the ``args`` object Gemini wants."""
    if isinstance(raw, dict):
        return raw
    if not isinstance(raw, str) or not raw.strip():
        return {}
    try:
        value = _loads(raw, param)
    except ValueError:
        return {"params": raw}
    check_nesting(value, param)
    return value if isinstance(value, dict) else {"value": value}
