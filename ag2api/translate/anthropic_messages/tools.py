"""Anthropic ``tools`` / ``tool_choice`` → Gemini declarations, tool config and name map."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ag2api.errors import InvalidRequest
from ag2api.models.families import is_claude, is_image_model
from ag2api.translate.gemini.schema import SchemaBudget, clean_schema_typed
from ag2api.translate.input import safe_name, too_deep, unique_name
from ag2api.translate.typed_args import ArgFix


@dataclass
class ToolSet:
    declarations: list[dict[str, Any]] = field(default_factory=list)
    to_upstream: dict[str, str] = field(default_factory=dict)  # client name → declared name
    search: bool = False  # a web_search server tool asked for Google Search
    # declared name → where the schema's enum/const members had to become strings
    fixes: dict[str, ArgFix] = field(default_factory=dict)

    def upstream_name(self, client: str) -> str:
        """The declared name for ``client`` (history may name tools this request lacks)."""
        return self.to_upstream.get(client) or safe_name(client)

    def to_client(self) -> dict[str, str]:
        """declared name → client name, only where they differ."""
        return {up: client for client, up in self.to_upstream.items() if up != client}


def convert_tools(tools: Any, *, model: str, budget: SchemaBudget | None = None) -> ToolSet:
    """Client tools become declarations (names made safe and unique); server tools never 400.

    ``web_search_*`` asks for Google Search, which is only sent to Gemini when no function is
    declared (the backend refuses to mix them); every other typed tool (Anthropic-hosted bash,
    text editor, computer, advisor, tool search …) has no upstream equivalent and is dropped.
    """
    out = ToolSet()
    if tools is None:
        return out
    if not isinstance(tools, list):
        raise InvalidRequest("'tools' must be an array", param="tools")
    taken: set[str] = set()
    for i, tool in enumerate(tools):
        if not isinstance(tool, dict):
            raise InvalidRequest(f"tools.{i} must be an object", param="tools")
        kind = tool.get("type")
        if kind not in (None, "custom"):
            if isinstance(kind, str) and kind.startswith("web_search"):
                out.search = True
            continue
        name = tool.get("name")
        if not isinstance(name, str) or not name:
            raise InvalidRequest(f"tools.{i}.name must be a non-empty string", param="tools")
        if name in out.to_upstream:
            continue  # the same tool twice: "Tool names must be unique" upstream
        schema = tool.get("input_schema")
        if schema is not None and not isinstance(schema, dict):
            raise InvalidRequest(f"tools.{i}.input_schema must be an object", param="tools")
        if too_deep(schema):  # the schema cleaner copies recursively
            raise InvalidRequest(f"tools.{i}.input_schema is nested too deeply", param="tools")
        declared = unique_name(safe_name(name), taken)
        out.to_upstream[name] = declared
        params, fix = clean_schema_typed(schema, f"tools.{i}.input_schema", budget)
        if fix is not None:
            out.fixes[declared] = fix
        decl: dict[str, Any] = {"name": declared, "parameters": params}
        description = tool.get("description")
        if isinstance(description, str) and description:
            decl["description"] = description
        out.declarations.append(decl)
    if out.declarations or is_claude(model) or is_image_model(model):
        out.search = False
    return out


def tool_config(choice: Any, tools: ToolSet) -> dict[str, Any] | None:
    """``tool_choice`` → ``functionCallingConfig`` (None: leave the default)."""
    if choice is None:
        return None
    kind = choice.get("type") if isinstance(choice, dict) else None
    if kind not in ("auto", "any", "tool", "none"):
        raise InvalidRequest(
            "'tool_choice.type' must be auto, any, tool or none", param="tool_choice"
        )
    if not tools.declarations:
        if kind in ("auto", "none"):
            return None
        raise InvalidRequest("'tool_choice' needs 'tools' to be declared", param="tool_choice")
    # disable_parallel_tool_use has no upstream switch; it is accepted and ignored.
    if kind == "auto":
        return {"functionCallingConfig": {"mode": "AUTO"}}
    if kind == "none":
        return {"functionCallingConfig": {"mode": "NONE"}}
    if kind == "any":
        return {"functionCallingConfig": {"mode": "ANY"}}
    name = choice.get("name")
    if not isinstance(name, str) or name not in tools.to_upstream:
        raise InvalidRequest(
            f"tool_choice names {name!r}, which is not in 'tools'", param="tool_choice"
        )
    return {
        "functionCallingConfig": {
            "mode": "ANY",
            "allowedFunctionNames": [tools.to_upstream[name]],
        }
    }
