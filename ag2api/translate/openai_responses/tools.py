"""Responses ``tools`` / ``tool_choice`` → Gemini declarations, tool config and the name map back.

Every tool type Codex sends is accepted (a 400 on one fails the whole turn, CommandCode #885):

* ``function`` (flat shape) → a declaration;
* ``custom`` (freeform: grammar or text) → a declaration with one string parameter ``input``; the
  tool call goes back as a ``custom_tool_call`` with the raw input (Codex's ``apply_patch``
  refuses a ``function_call``);
* ``namespace`` (MCP groups) → its functions flattened to ``<namespace>__<name>``, mapped back to
  ``name`` + ``namespace`` on the tool call;
* ``web_search*`` → Google Search when nothing else is declared (the backend refuses to mix);
* anything else (``local_shell``, ``tool_search``, ``file_search``, ``mcp``, ``computer_use*``,
  ``image_generation``, ``code_interpreter`` …) has no upstream equivalent and is dropped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ag2api.errors import InvalidRequest
from ag2api.models.families import is_claude, is_image_model
from ag2api.translate.gemini.schema import SchemaBudget, clean_schema_typed
from ag2api.translate.input import safe_name, too_deep, unique_name
from ag2api.translate.typed_args import ArgFix

CUSTOM_PARAM = "input"
MAX_GRAMMAR_HINT = 8000  # characters of a custom tool's grammar put in its description


@dataclass(frozen=True)
class ToolRef:
    """A declared tool as the client knows it."""

    name: str
    namespace: str | None = None
    custom: bool = False


@dataclass
class ToolSet:
    declarations: list[dict[str, Any]] = field(default_factory=list)
    by_upstream: dict[str, ToolRef] = field(default_factory=dict)  # declared name → client tool
    to_upstream: dict[tuple[str | None, str], str] = field(default_factory=dict)
    fixes: dict[str, ArgFix] = field(default_factory=dict)  # declared name → answer fixes
    search: bool = False

    def upstream_name(self, name: str, namespace: str | None = None) -> str:
        """The declared name (history may name tools this request lacks)."""
        found = self.to_upstream.get((namespace, name))
        return found or safe_name(f"{namespace}__{name}" if namespace else name)

    def ref(self, upstream: str) -> ToolRef:
        return self.by_upstream.get(upstream) or ToolRef(upstream)


def convert_tools(tools: Any, *, model: str, budget: SchemaBudget | None = None) -> ToolSet:
    out = ToolSet()
    if tools is None:
        return out
    if not isinstance(tools, list):
        raise InvalidRequest("'tools' must be an array", param="tools")
    claude = is_claude(model)
    taken: set[str] = set()
    for i, tool in enumerate(tools):
        where = f"tools[{i}]"
        if not isinstance(tool, dict):
            raise InvalidRequest(f"{where} must be an object", param=where)
        kind = tool.get("type")
        if kind == "function":
            _declare(out, tool, where, None, taken, budget=budget)
        elif kind == "custom":
            _declare(out, tool, where, None, taken, custom=True, budget=budget)
        elif kind == "namespace":
            space = tool.get("name")
            inner = tool.get("tools")
            if not isinstance(space, str) or not space or not isinstance(inner, list):
                raise InvalidRequest(
                    f"{where} (namespace) needs a name and a 'tools' array", param=where
                )
            for j, sub in enumerate(inner):
                sub_where = f"{where}.tools[{j}]"
                if not isinstance(sub, dict):
                    raise InvalidRequest(f"{sub_where} must be an object", param=sub_where)
                if sub.get("type", "function") in ("function", "custom"):
                    custom = sub.get("type") == "custom"
                    _declare(out, sub, sub_where, space, taken, custom=custom, budget=budget)
        elif isinstance(kind, str) and kind.startswith("web_search"):
            out.search = True
        elif not isinstance(kind, str):
            raise InvalidRequest(f"{where}.type must be a string", param=f"{where}.type")
    if out.declarations or claude or is_image_model(model):
        out.search = False
    return out


def _declare(
    out: ToolSet,
    tool: dict[str, Any],
    where: str,
    namespace: str | None,
    taken: set[str],
    *,
    custom: bool = False,
    budget: SchemaBudget | None = None,
) -> None:
    name = tool.get("name")
    if not isinstance(name, str) or not name:
        raise InvalidRequest(f"{where}.name must be a non-empty string", param=f"{where}.name")
    if (namespace, name) in out.to_upstream:
        return  # declared twice: "Tool names must be unique" upstream
    description = tool.get("description")
    if description is not None and not isinstance(description, str):
        raise InvalidRequest(f"{where}.description must be a string", param=f"{where}.description")
    if custom:
        params: dict[str, Any] = {
            "type": "object",
            "properties": {CUSTOM_PARAM: {"type": "string", "description": _format_hint(tool)}},
            "required": [CUSTOM_PARAM],
        }
        fix = None
    else:
        schema = tool.get("parameters")
        if too_deep(schema):
            raise InvalidRequest(
                f"{where}.parameters is nested too deeply", param=f"{where}.parameters"
            )
        # Claude's placeholders are added (and tracked) by the family rules afterwards.
        params, fix = clean_schema_typed(schema, f"{where}.parameters", budget)
    declared = unique_name(safe_name(f"{namespace}__{name}" if namespace else name), taken)
    out.to_upstream[(namespace, name)] = declared
    out.by_upstream[declared] = ToolRef(name, namespace, custom)
    if fix is not None:
        out.fixes[declared] = fix
    decl: dict[str, Any] = {"name": declared, "parameters": params}
    if description:
        decl["description"] = description
    out.declarations.append(decl)


def _format_hint(tool: dict[str, Any]) -> str:
    """What the raw input must look like: the custom tool's grammar, when it has one."""
    fmt = tool.get("format")
    if isinstance(fmt, dict) and fmt.get("type") == "grammar":
        definition = fmt.get("definition")
        if isinstance(definition, str) and definition:
            syntax = fmt.get("syntax") if isinstance(fmt.get("syntax"), str) else "grammar"
            return (
                f"The raw tool input, exactly as this {syntax} grammar defines it:\n"
                + definition[:MAX_GRAMMAR_HINT]
            )
    return "The raw tool input (free text)."


def tool_config(choice: Any, tools: ToolSet) -> dict[str, Any] | None:
    """``tool_choice`` → ``functionCallingConfig`` (None: the default). Prunes ``tools`` in place
    for ``allowed_tools`` in auto mode (Gemini takes allowed names only with ``ANY``)."""
    if choice is None or choice == "auto":
        return None
    if choice == "none":
        return {"functionCallingConfig": {"mode": "NONE"}} if tools.declarations else None
    if choice == "required":
        return _need(tools, {"mode": "ANY"})
    if not isinstance(choice, dict) or not isinstance(choice.get("type"), str):
        raise InvalidRequest(
            "'tool_choice' must be none, auto, required or an object with a type",
            param="tool_choice",
        )
    kind = choice["type"]
    if kind in ("function", "custom"):
        name = _named(choice, tools, "tool_choice")
        return _need(tools, {"mode": "ANY", "allowedFunctionNames": [name]})
    if kind == "allowed_tools":
        listed = choice.get("tools")
        if not isinstance(listed, list):
            raise InvalidRequest("'tool_choice.tools' must be an array", param="tool_choice.tools")
        names = [
            _named(t, tools, f"tool_choice.tools[{i}]")
            for i, t in enumerate(listed)
            if isinstance(t, dict) and t.get("type", "function") in ("function", "custom")
        ]
        if choice.get("mode", "auto") == "required":
            return _need(tools, {"mode": "ANY", "allowedFunctionNames": names})
        kept = set(names)
        tools.declarations[:] = [d for d in tools.declarations if d["name"] in kept]
        return None
    return None  # a hosted tool (web_search, file_search …): nothing to force upstream


def _named(choice: dict[str, Any], tools: ToolSet, where: str) -> str:
    name = choice.get("name")
    namespace = choice.get("namespace") if isinstance(choice.get("namespace"), str) else None
    if not isinstance(name, str) or (namespace, name) not in tools.to_upstream:
        raise InvalidRequest(f"{where} names {name!r}, which is not in 'tools'", param=where)
    return tools.to_upstream[(namespace, name)]


def _need(tools: ToolSet, config: dict[str, Any]) -> dict[str, Any]:
    if not tools.declarations:
        raise InvalidRequest(
            "'tool_choice' needs function tools to be declared", param="tool_choice"
        )
    return {"functionCallingConfig": config}
