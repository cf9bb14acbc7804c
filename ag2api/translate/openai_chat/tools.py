"""OpenAI ``tools`` / ``tool_choice`` (and the legacy ``functions``) → Gemini declarations."""

from __future__ import annotations

from typing import Any

from ag2api.errors import InvalidRequest
from ag2api.translate.gemini_schema import clean_schema

# Claude's VALIDATED mode rejects object schemas without properties (protocol §7.4).
PLACEHOLDER = {
    "reason": {
        "type": "string",
        "description": "Brief explanation of why you are calling this tool",
    }
}


def declared_tools(body: dict[str, Any]) -> tuple[Any, Any]:
    """(tools, tool_choice), mapping the deprecated ``functions``/``function_call`` pair."""
    tools, choice = body.get("tools"), body.get("tool_choice")
    functions = body.get("functions")
    if tools is None and functions is not None:
        if not isinstance(functions, list):
            raise InvalidRequest("'functions' must be a list", param="functions")
        tools = [{"type": "function", "function": f} for f in functions]
        legacy = body.get("function_call")
        if isinstance(legacy, dict):
            choice = {"type": "function", "function": {"name": legacy.get("name")}}
        elif legacy is not None:
            choice = legacy
    return tools, choice


def function_declarations(tools: Any, *, is_claude: bool) -> list[dict[str, Any]]:
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
        params = clean_schema(fn.get("parameters"))
        if is_claude:
            _fill_empty_objects(params)
        decl: dict[str, Any] = {"name": fn["name"], "parameters": params}
        if isinstance(fn.get("description"), str) and fn["description"]:
            decl["description"] = fn["description"]
        out.append(decl)
    return out


def _fill_empty_objects(schema: dict[str, Any]) -> None:
    if schema.get("type") == "object" and not schema.get("properties"):
        schema["properties"] = dict(PLACEHOLDER)
    for sub in (schema.get("properties") or {}).values():
        if isinstance(sub, dict):
            _fill_empty_objects(sub)
    if isinstance(schema.get("items"), dict):
        _fill_empty_objects(schema["items"])


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
