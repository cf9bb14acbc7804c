"""OpenAI Chat Completions request body → plain Gemini ``generateContent`` request.

Pure: dicts in, dict out; every problem is an ``InvalidRequest`` naming the parameter.
"""

from __future__ import annotations

import hashlib
from typing import Any

from ag2api.errors import InvalidRequest
from ag2api.translate.gemini_schema import clean_schema
from ag2api.translate.openai_chat.messages import convert_messages

CLAUDE_MAX_OUTPUT = 64000
MIN_CLAUDE_THINKING_BUDGET = 1024


def to_gemini(
    body: dict[str, Any], *, model: str, thinking: dict[str, Any] | None
) -> dict[str, Any]:
    """Translate ``body``; ``thinking`` is the model policy's ``thinkingConfig`` (or None)."""
    is_claude = model.startswith("claude")
    system_parts, contents = convert_messages(body.get("messages"), is_claude=is_claude)
    request: dict[str, Any] = {"contents": contents}
    if system_parts:
        request["systemInstruction"] = {"role": "user", "parts": system_parts}
    generation = generation_config(body, is_claude=is_claude, thinking=thinking)
    if generation:
        request["generationConfig"] = generation
    tools = function_declarations(body.get("tools"))
    if tools:
        request["tools"] = [{"functionDeclarations": tools}]
        request["toolConfig"] = tool_config(body.get("tool_choice"), tools, is_claude=is_claude)
    elif body.get("tool_choice") not in (None, "none", "auto"):
        raise InvalidRequest("'tool_choice' needs 'tools' to be declared", param="tool_choice")
    request["sessionId"] = session_id(contents)
    return request


def generation_config(
    body: dict[str, Any], *, is_claude: bool, thinking: dict[str, Any] | None
) -> dict[str, Any]:
    gen: dict[str, Any] = {}
    _number(body, "temperature", 0, 2, gen, "temperature")
    _number(body, "top_p", 0, 1, gen, "topP")
    _integer(body, "top_k", 1, 1000, gen, "topK")
    _number(body, "presence_penalty", -2, 2, gen, "presencePenalty")
    _number(body, "frequency_penalty", -2, 2, gen, "frequencyPenalty")
    _integer(body, "seed", -(2**63), 2**63 - 1, gen, "seed")
    _integer(body, "max_tokens", 1, 10_000_000, gen, "maxOutputTokens")
    # max_completion_tokens is the current name; it wins when both are sent.
    _integer(body, "max_completion_tokens", 1, 10_000_000, gen, "maxOutputTokens")
    n = body.get("n")
    if n is not None and (not isinstance(n, int) or isinstance(n, bool) or n < 1):
        raise InvalidRequest("'n' must be a positive integer", param="n")
    if n is not None and n > 1:
        raise InvalidRequest("Only n=1 is supported by this gateway", param="n")
    stop = body.get("stop")
    if stop is not None:
        stops = [stop] if isinstance(stop, str) else stop
        if not isinstance(stops, list) or not all(isinstance(s, str) and s for s in stops):
            raise InvalidRequest("'stop' must be a string or a list of strings", param="stop")
        if len(stops) > 5:
            raise InvalidRequest("'stop' takes at most 5 sequences", param="stop")
        if stops:
            gen["stopSequences"] = stops
    _response_format(body.get("response_format"), gen)
    if thinking:
        _apply_thinking(gen, dict(thinking), is_claude)
    return gen


def _apply_thinking(gen: dict[str, Any], thinking: dict[str, Any], is_claude: bool) -> None:
    budget = thinking.get("thinkingBudget")
    if is_claude and isinstance(budget, int) and budget > 0:
        # Claude requires maxOutputTokens > thinkingBudget (protocol §7.4).
        limit = gen.get("maxOutputTokens")
        if limit is None:
            gen["maxOutputTokens"] = CLAUDE_MAX_OUTPUT
        elif limit <= budget:
            if limit - 1 < MIN_CLAUDE_THINKING_BUDGET:
                return  # too small a budget to think with: answer without thinking
            thinking["thinkingBudget"] = limit - 1
    gen["thinkingConfig"] = thinking


def _response_format(fmt: Any, gen: dict[str, Any]) -> None:
    if fmt is None:
        return
    if not isinstance(fmt, dict) or fmt.get("type") not in ("text", "json_object", "json_schema"):
        raise InvalidRequest(
            "'response_format.type' must be text, json_object or json_schema",
            param="response_format",
        )
    if fmt["type"] == "text":
        return
    gen["responseMimeType"] = "application/json"
    if fmt["type"] == "json_schema":
        spec = fmt.get("json_schema")
        if not isinstance(spec, dict) or not isinstance(spec.get("schema", {}), dict):
            raise InvalidRequest(
                "'response_format.json_schema.schema' must be an object", param="response_format"
            )
        if spec.get("schema"):
            gen["responseSchema"] = clean_schema(spec["schema"])


def function_declarations(tools: Any) -> list[dict[str, Any]]:
    if tools is None:
        return []
    if not isinstance(tools, list):
        raise InvalidRequest("'tools' must be a list", param="tools")
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for i, tool in enumerate(tools):
        if not isinstance(tool, dict) or tool.get("type", "function") != "function":
            raise InvalidRequest(
                f"tools[{i}]: only type 'function' tools are supported", param="tools"
            )
        fn = tool.get("function")
        if not isinstance(fn, dict) or not isinstance(fn.get("name"), str) or not fn["name"]:
            raise InvalidRequest(f"tools[{i}].function.name is required", param="tools")
        if fn["name"] in seen:
            continue
        seen.add(fn["name"])
        decl: dict[str, Any] = {
            "name": fn["name"],
            "parameters": clean_schema(fn.get("parameters")),
        }
        if isinstance(fn.get("description"), str) and fn["description"]:
            decl["description"] = fn["description"]
        out.append(decl)
    return out


def tool_config(choice: Any, tools: list[dict[str, Any]], *, is_claude: bool) -> dict[str, Any]:
    names = {t["name"] for t in tools}
    config: dict[str, Any]
    if choice is None or choice == "auto":
        config = {"mode": "VALIDATED" if is_claude else "AUTO"}
    elif choice == "none":
        config = {"mode": "NONE"}
    elif choice == "required":
        config = {"mode": "ANY"}
    elif isinstance(choice, dict) and isinstance(choice.get("function"), dict):
        name = choice["function"].get("name")
        if name not in names:
            raise InvalidRequest(
                f"tool_choice names '{name}', which is not in 'tools'", param="tool_choice"
            )
        config = {"mode": "ANY", "allowedFunctionNames": [name]}
    else:
        raise InvalidRequest(
            "'tool_choice' must be none, auto, required or a named function", param="tool_choice"
        )
    return {"functionCallingConfig": config}


def session_id(contents: list[dict[str, Any]]) -> str:
    """A stable negative int64 from the first user text, as the IDE keys its sessions."""
    first = ""
    for turn in contents:
        if turn.get("role") == "user":
            first = next((p["text"] for p in turn["parts"] if "text" in p), "")
            if first:
                break
    digest = hashlib.sha256(first.encode("utf-8")).digest()
    return "-" + str(int.from_bytes(digest[:8], "big") & 0x7FFF_FFFF_FFFF_FFFF)


def _number(
    body: dict[str, Any], key: str, lo: float, hi: float, gen: dict[str, Any], target: str
) -> None:
    value = body.get(key)
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int | float) or not lo <= value <= hi:
        raise InvalidRequest(f"'{key}' must be a number from {lo} to {hi}", param=key)
    gen[target] = value


def _integer(
    body: dict[str, Any], key: str, lo: int, hi: int, gen: dict[str, Any], target: str
) -> None:
    value = body.get(key)
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise InvalidRequest(f"'{key}' must be an integer from {lo} to {hi}", param=key)
    gen[target] = value
