"""OpenAI ``tools`` / ``tool_choice`` (and the legacy ``functions``) → Gemini declarations."""

from __future__ import annotations

from typing import Any

from ag2api.errors import InvalidRequest
from ag2api.translate.gemini.schema import SchemaBudget, clean_schema_typed
from ag2api.translate.typed_args import ArgFix


def declared_tools(body: dict[str, Any]) -> tuple[Any, Any, bool]:
    """(tools, tool_choice, legacy): the deprecated ``functions``/``function_call`` pair is mapped
    to tools (``legacy`` is then True: the answer uses ``function_call`` too)."""
    tools, choice = body.get("tools"), body.get("tool_choice")
    functions = body.get("functions")
    if tools is not None or functions is None:
        return tools, choice, False
    if not isinstance(functions, list):
        raise InvalidRequest("'functions' must be a list", param="functions")
    for i, fn in enumerate(functions):
        if not isinstance(fn, dict):
            raise InvalidRequest(f"functions[{i}] must be an object", param=f"functions[{i}]")
    tools = [{"type": "function", "function": f} for f in functions]
    legacy = body.get("function_call")
    if isinstance(legacy, dict):
        if not isinstance(legacy.get("name"), str):
            raise InvalidRequest(
                "'function_call.name' must be a string", param="function_call.name"
            )
        choice = {"type": "function", "function": {"name": legacy["name"]}}
    elif legacy in (None, "none", "auto"):
        choice = legacy
    else:
        raise InvalidRequest(
            "'function_call' must be none, auto or {\"name\": ...}", param="function_call"
        )
    return tools, choice, True


def function_declarations(
    tools: Any,
    *,
    fixes: dict[str, ArgFix] | None = None,
    legacy: bool = False,
    budget: SchemaBudget | None = None,
) -> list[dict[str, Any]]:
    """Gemini declarations; ``fixes`` (when given) receives, per tool name, what the schema
    adaptations changed, to undo them in the calls that come back (see ``typed_args``). Family
    rules (Claude's placeholders) are added later by ``models.family_rules.apply_family_rules``."""
    if tools is None:
        return []
    if not isinstance(tools, list):
        raise InvalidRequest("'tools' must be a list", param="tools")
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for i, tool in enumerate(tools):
        where = f"functions[{i}]" if legacy else f"tools[{i}].function"
        if not isinstance(tool, dict) or tool.get("type", "function") != "function":
            raise InvalidRequest(
                f"tools[{i}]: only type 'function' tools are supported", param=f"tools[{i}]"
            )
        fn = tool.get("function")
        if not isinstance(fn, dict) or not isinstance(fn.get("name"), str) or not fn["name"]:
            raise InvalidRequest(f"{where}.name is required", param=f"{where}.name")
        if fn["name"] in seen:
            continue
        seen.add(fn["name"])
        params, fix = clean_schema_typed(fn.get("parameters"), f"{where}.parameters", budget)
        if fix is not None and fixes is not None:
            fixes[fn["name"]] = fix
        decl: dict[str, Any] = {"name": fn["name"], "parameters": params}
        description = fn.get("description")
        if description is not None and not isinstance(description, str):
            raise InvalidRequest(
                f"'{where}.description' must be a string", param=f"{where}.description"
            )
        if description:
            decl["description"] = description
        out.append(decl)
    return out


def tool_config(choice: Any, tools: list[dict[str, Any]]) -> dict[str, Any]:
    """``AUTO`` becomes Claude's ``VALIDATED`` later, in ``models.families``."""
    names = {t["name"] for t in tools}
    config: dict[str, Any]
    if choice is None or choice == "auto":
        config = {"mode": "AUTO"}
    elif choice == "none":
        config = {"mode": "NONE"}
    elif choice == "required":
        config = {"mode": "ANY"}
    elif isinstance(choice, dict) and isinstance(choice.get("function"), dict):
        name = choice["function"].get("name")
        if not isinstance(name, str):
            raise InvalidRequest(
                "'tool_choice.function.name' must be a string", param="tool_choice.function.name"
            )
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
