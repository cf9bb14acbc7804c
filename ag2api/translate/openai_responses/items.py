"""Responses ``input`` (a string or items) + ``instructions`` → Gemini system parts and contents.

Item types the gateway has no use for (``local_shell_call``, ``web_search_call``,
``additional_tools`` …) are skipped; a known item with a wrong shape is a 400 naming ``input``.
``reasoning`` items give back what their ``encrypted_content`` carries (``carrier``); a
``compaction`` item of ours gives back its summary (``compaction``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from ag2api.errors import InvalidRequest
from ag2api.models.families import is_claude
from ag2api.translate.gemini.turns import merge_turns
from ag2api.translate.input import too_deep
from ag2api.translate.openai_responses import carrier, compaction
from ag2api.translate.openai_responses.tools import CUSTOM_PARAM, ToolSet

SYSTEM_ROLES = ("system", "developer")
PARAM = "input"


@dataclass
class Converted:
    system: list[dict[str, Any]] = field(default_factory=list)
    contents: list[dict[str, Any]] = field(default_factory=list)
    dropped_thinking: int = 0  # reasoning not replayable to this model (foreign or not ours)


def as_items(value: Any) -> list[dict[str, Any]]:
    """``input`` as a list of items (a string is one user message)."""
    if isinstance(value, str):
        return [{"type": "message", "role": "user", "content": value}]
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise InvalidRequest("'input' must be a string or an array of items", param=PARAM)
    for n, item in enumerate(value):
        # Read as keys (an item's type, a reference's id) by the translation, the stored
        # conversation and the listing of stored items.
        for key in ("type", "id", "role"):
            if item.get(key) is not None and not isinstance(item[key], str):
                raise InvalidRequest(f"input[{n}].{key} must be a string", param=PARAM)
    return value


def convert(
    instructions: Any, items: list[dict[str, Any]], *, model: str, tools: ToolSet, thinking: bool
) -> Converted:
    """``thinking``: thoughts are asked of the upstream (Claude's signed thinking is replayed)."""
    out = Converted()
    if instructions is not None:
        if not isinstance(instructions, str):
            raise InvalidRequest("'instructions' must be a string", param="instructions")
        if instructions.strip():
            out.system.append({"text": instructions})
    claude = is_claude(model)
    carried = [carrier.unpack(i.get("encrypted_content"), model) for i in items]
    call_signatures = {k: v for c in carried if c is not None for k, v in c.calls.items()}
    names: dict[str, str] = {}  # call_id → declared name, for outputs
    turns: list[dict[str, Any]] = []
    for n, item in enumerate(items):
        kind = item.get("type") or ("message" if "role" in item else None)
        where = f"input[{n}]"
        if kind == "message":
            _message(item, where, out, turns)
        elif kind in ("function_call", "custom_tool_call"):
            part = _call(item, where, kind, tools, names)
            call_id = part["functionCall"]["id"]
            if not claude and call_id in call_signatures:
                part["thoughtSignature"] = call_signatures[call_id]
            turns.append({"role": "model", "parts": [part]})
        elif kind in ("function_call_output", "custom_tool_call_output"):
            turns.append({"role": "user", "parts": _output(item, where, names)})
        elif kind == "reasoning":
            found = carried[n]
            if claude and thinking and found is not None and found.signature is not None:
                part = {
                    "text": found.thinking,
                    "thought": True,
                    "thoughtSignature": found.signature,
                }
                turns.append({"role": "model", "parts": [part]})
            elif claude or found is None:
                out.dropped_thinking += 1
        elif kind == compaction.ITEM:
            summary = compaction.unpack(item.get("encrypted_content"))
            if summary is not None:  # another server's compaction state means nothing here
                text = compaction.SUMMARY_INTRO + summary
                turns.append({"role": "user", "parts": [{"text": text}]})
        elif kind == "item_reference":
            raise InvalidRequest(
                f"{where}: item_reference {item.get('id')!r} names no item of the "
                "previous_response_id conversation",
                param=PARAM,
            )
        # other item types (a compaction_trigger too: ``to_gemini`` reads it): nothing to send
    out.contents = merge_turns([t for t in turns if t["parts"]])
    if not out.contents:
        raise InvalidRequest("'input' has no user or assistant content", param=PARAM)
    if out.contents[0]["role"] == "model":
        out.contents.insert(0, {"role": "user", "parts": [{"text": "."}]})
    return out


def _message(item: dict[str, Any], where: str, out: Converted, turns: list[dict[str, Any]]) -> None:
    role = item.get("role")
    if role not in ("user", "assistant", *SYSTEM_ROLES):
        raise InvalidRequest(
            f"{where}.role must be user, assistant, system or developer", param=PARAM
        )
    content = item.get("content")
    if isinstance(content, str):
        content = [{"type": "input_text", "text": content}]
    if not isinstance(content, list):
        raise InvalidRequest(f"{where}.content must be a string or an array", param=PARAM)
    parts: list[dict[str, Any]] = []
    for j, block in enumerate(content):
        sub = f"{where}.content[{j}]"
        kind = block.get("type") if isinstance(block, dict) else None
        if kind in ("input_text", "output_text", "text", "refusal"):
            text = block.get("refusal" if kind == "refusal" else "text")
            if not isinstance(text, str):
                raise InvalidRequest(f"{sub}.text must be a string", param=PARAM)
            if text.strip():
                parts.append({"text": text})
        elif kind in ("input_image", "input_file") and role == "user":
            parts.append(media_part(block, sub))
        # other parts (audio, images in assistant turns …): nothing the upstream takes
    if role in SYSTEM_ROLES:
        out.system.extend(p for p in parts if "text" in p)
    else:
        turns.append({"role": "model" if role == "assistant" else "user", "parts": parts})


def media_part(block: dict[str, Any], where: str) -> dict[str, Any]:
    """An ``input_image`` / ``input_file`` with inline data (URLs were fetched by the handler)."""
    if block.get("type") == "input_image":
        url = block.get("image_url")
        if isinstance(url, str) and url.startswith("data:"):
            return _data_url(url, where)
        if isinstance(url, str) and url:
            raise InvalidRequest(
                f"{where}.image_url: only data: URLs and fetchable http(s) URLs are taken",
                param=PARAM,
            )
        raise InvalidRequest(
            f"{where}: file_id images are not supported; send image_url", param=PARAM
        )
    data = block.get("file_data")
    if isinstance(data, str) and data.startswith("data:"):
        return _data_url(data, where)
    if isinstance(data, str) and data:
        filename = block.get("filename") if isinstance(block.get("filename"), str) else ""
        mime = "application/pdf" if str(filename).lower().endswith(".pdf") else "text/plain"
        return {"inlineData": {"mimeType": mime, "data": data}}
    raise InvalidRequest(
        f"{where}: only file_data is supported for input_file (no file_id or file_url)",
        param=PARAM,
    )


def _data_url(url: str, where: str) -> dict[str, Any]:
    head, comma, data = url.partition(",")
    if not comma or ";base64" not in head or not data:
        raise InvalidRequest(f"{where} must be a base64 data: URL", param=PARAM)
    mime = head.removeprefix("data:").split(";")[0] or "application/octet-stream"
    return {"inlineData": {"mimeType": mime, "data": data}}


def _call(
    item: dict[str, Any], where: str, kind: str, tools: ToolSet, names: dict[str, str]
) -> dict[str, Any]:
    name, call_id = item.get("name"), item.get("call_id")
    if not isinstance(name, str) or not name:
        raise InvalidRequest(f"{where}.name must be a non-empty string", param=PARAM)
    if not isinstance(call_id, str) or not call_id:
        raise InvalidRequest(f"{where}.call_id must be a non-empty string", param=PARAM)
    if kind == "custom_tool_call":
        raw = item.get("input")
        if not isinstance(raw, str):
            raise InvalidRequest(f"{where}.input must be a string", param=PARAM)
        args: Any = {CUSTOM_PARAM: raw}
    else:
        arguments = item.get("arguments")
        try:
            args = json.loads(arguments) if isinstance(arguments, str) and arguments else {}
        except ValueError as exc:
            raise InvalidRequest(
                f"{where}.arguments is not valid JSON: {exc}", param=PARAM
            ) from exc
        if not isinstance(args, dict):
            raise InvalidRequest(f"{where}.arguments must be a JSON object", param=PARAM)
        if too_deep(args):
            raise InvalidRequest(f"{where}.arguments is nested too deeply", param=PARAM)
    namespace = item.get("namespace") if isinstance(item.get("namespace"), str) else None
    declared = tools.upstream_name(name, namespace)
    names[call_id] = declared
    return {"functionCall": {"id": call_id, "name": declared, "args": args}}


def _output(item: dict[str, Any], where: str, names: dict[str, str]) -> list[dict[str, Any]]:
    call_id = item.get("call_id")
    if not isinstance(call_id, str) or call_id not in names:
        raise InvalidRequest(
            f"{where}.call_id {call_id!r} matches no earlier function_call or custom_tool_call",
            param=PARAM,
        )
    output = item.get("output")
    texts: list[str] = []
    extra: list[dict[str, Any]] = []
    if isinstance(output, str):
        texts.append(output)
    elif isinstance(output, list):
        for k, block in enumerate(output):
            kind = block.get("type") if isinstance(block, dict) else None
            if kind in ("input_text", "output_text", "text"):
                text = block.get("text")
                if isinstance(text, str):
                    texts.append(text)
            elif kind in ("input_image", "input_file"):
                # Media ride after the results in the same turn (works for both families).
                extra.append(media_part(block, f"{where}.output[{k}]"))
    elif output is not None:
        raise InvalidRequest(f"{where}.output must be a string or an array", param=PARAM)
    response = {"id": call_id, "name": names[call_id], "response": {"result": "\n".join(texts)}}
    return [{"functionResponse": response}, *extra]
