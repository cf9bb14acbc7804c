"""Gemini API request body → the Gemini request Antigravity takes: almost the same.

Pure: dicts in, dicts out; every problem is an ``InvalidRequest`` naming the field. The body is
rebuilt from the fields the backend accepts (unknown ones — ``cachedContent`` aside, which is
refused — are dropped, as the backend 400s on unknown names), with what it rejects cleaned as for
the other dialects: JSON Schemas (``parametersJsonSchema``/``responseJsonSchema`` become cleaned
``parameters``/``responseSchema``), the model family's rules (``models/families.py``), thinking
fitted to the family. Contents pass as they are: thought signatures belong to the client — but
Claude gets back the signed thinking a client dropped, or a closed tool loop (``thinking``).
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import unquote

from ag2api.errors import InvalidRequest
from ag2api.models import families
from ag2api.models.families import thinking_for_effort
from ag2api.translate.gemini import family_rules
from ag2api.translate.gemini.schema import SchemaBudget, clean_schema, clean_schema_typed
from ag2api.translate.gemini.session import session_id
from ag2api.translate.gemini.turns import close_unsigned_loop, thinking_on
from ag2api.translate.gemini_api import checks
from ag2api.translate.gemini_api.thinking import Lookup, restore_thinking
from ag2api.translate.input import EFFORTS, check_nesting, output_limit
from ag2api.translate.typed_args import ArgFix, merge

# generationConfig fields the backend takes (docs/protocol.md §2.2); others (logprobs, speechConfig,
# enableEnhancedCivicAnswers …) have no upstream meaning and are dropped.
GENERATION_FIELDS = frozenset(
    {
        "temperature",
        "topP",
        "topK",
        "candidateCount",
        "maxOutputTokens",
        "stopSequences",
        "thinkingConfig",
        "responseMimeType",
        "responseSchema",
        "responseModalities",
        "imageConfig",
        "presencePenalty",
        "frequencyPenalty",
        "seed",
        "mediaResolution",
    }
)
NUMBERS = ("temperature", "topP", "topK", "presencePenalty", "frequencyPenalty", "seed")
SERVER_TOOLS = ("googleSearch", "codeExecution", "urlContext")
ROLES = {"user": "user", "model": "model", "function": "user"}  # "function": the old API's role
_SNAKE = re.compile(r"_([a-z])")


def model_from_path(raw: str) -> str:
    """``gemini-2.5-flash`` from the path segment (``models/`` once more is tolerated)."""
    return unquote(raw).removeprefix("models/")


def camel(value: dict[str, Any]) -> dict[str, Any]:
    """Keys in camelCase (the Gemini API accepts snake_case too: ``generation_config``)."""
    if not any("_" in key for key in value):
        return value
    return {_SNAKE.sub(lambda m: m.group(1).upper(), key): v for key, v in value.items()}


def to_gemini(
    body: dict[str, Any],
    *,
    model: str,
    thinking_default: dict[str, Any] | None,
    signatures: Lookup | None = None,
) -> tuple[dict[str, Any], dict[str, ArgFix]]:
    """The upstream request for ``body`` on upstream ``model``, and per declared tool where the
    gateway changed its schema (non-string enum members made strings, Claude's placeholder
    property): the answer undoes that in the tool call's arguments.

    ``thinking_default`` is the model rule's ``thinkingConfig``: used only when the client set
    none. The body's parts are reused, not copied (it belongs to this request). ``signatures``
    finds the Claude thinking the gateway recorded, by signature.
    """
    check_nesting(body)
    body = camel(body)
    if body.get("cachedContent") is not None:
        raise InvalidRequest(
            "'cachedContent' is not supported: the Antigravity backend has no context cache; "
            "send the cached contents in the request instead.",
            param="cachedContent",
        )
    request: dict[str, Any] = {"contents": contents(body.get("contents"))}
    system = system_instruction(body.get("systemInstruction"))
    if system is not None:
        request["systemInstruction"] = system
    fixes: dict[str, ArgFix] = {}
    budget = SchemaBudget()  # shared by every schema of the request
    tool_list = tools(body.get("tools"), model, fixes, budget)
    if tool_list:
        request["tools"] = tool_list
        config = body.get("toolConfig")
        if config is not None:
            if not isinstance(config, dict):
                raise InvalidRequest("'toolConfig' must be an object", param="toolConfig")
            if tool_config := _tool_config(camel(config)):
                request["toolConfig"] = tool_config
    gen = generation_config(body.get("generationConfig"), model, thinking_default, budget)
    if gen:
        request["generationConfig"] = gen
    safety = body.get("safetySettings")
    if safety is not None:
        if not isinstance(safety, list):
            raise InvalidRequest("'safetySettings' must be an array", param="safetySettings")
        checks.check_safety(safety)
        request["safetySettings"] = safety
    request["sessionId"] = session_id(request["contents"])
    for name, fix in family_rules.apply_family_rules(request, model).items():
        fixes[name] = merge(fixes.get(name), fix) or fix
    if families.is_claude(model):
        restore_thinking(request["contents"], signatures if thinking_on(request) else None)
        close_unsigned_loop(request, model)  # what could not be restored is never forged
    return request, fixes


def contents(value: Any) -> list[dict[str, Any]]:
    if not isinstance(value, list) or not value:
        raise InvalidRequest("'contents' must be a non-empty array of turns", param="contents")
    out: list[dict[str, Any]] = []
    for i, turn in enumerate(value):
        where = f"contents[{i}]"
        if not isinstance(turn, dict):
            raise InvalidRequest(f"'{where}' must be an object", param=where)
        raw_role = turn.get("role") or "user"
        role = ROLES.get(raw_role) if isinstance(raw_role, str) else None
        if role is None:
            raise InvalidRequest(f"'{where}.role' must be user or model", param=f"{where}.role")
        kept = parts(turn.get("parts"), f"{where}.parts")
        if kept:  # the backend refuses a turn without parts
            out.append({"role": role, "parts": kept})
    if not out:
        raise InvalidRequest("'contents' has no non-empty part", param="contents")
    return out


def parts(value: Any, where: str) -> list[dict[str, Any]]:
    if not isinstance(value, list):
        raise InvalidRequest(f"'{where}' must be an array of parts", param=where)
    kept: list[dict[str, Any]] = []
    for j, part in enumerate(value):
        if not isinstance(part, dict):
            raise InvalidRequest(f"'{where}[{j}]' must be an object", param=f"{where}[{j}]")
        checks.check_part(part, f"{where}[{j}]")
        if None in part.values():  # null is absent (Google's JSON mapping)
            part = {k: v for k, v in part.items() if v is not None}
        # An empty text part alone is refused upstream (Claude: "text content blocks must be
        # non-empty"); one carrying a signature is the client's and stays.
        if part and part != {"text": ""}:
            kept.append(part)
    return kept


def system_instruction(value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    if isinstance(value, str):  # tolerated: a bare string
        value = {"parts": [{"text": value}]}
    if not isinstance(value, dict):
        raise InvalidRequest(
            "'systemInstruction' must be a Content object", param="systemInstruction"
        )
    kept = parts(value.get("parts"), "systemInstruction.parts")
    return {"role": "user", "parts": kept} if kept else None  # every peer sends role "user"


def tools(
    value: Any, model: str, fixes: dict[str, ArgFix], budget: SchemaBudget | None = None
) -> list[dict[str, Any]]:
    """Function declarations (deduplicated, schemas cleaned; their fixes into ``fixes``) in one
    tool; server tools kept only where the backend takes them: not for Claude or image models,
    nor next to functions."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise InvalidRequest("'tools' must be an array", param="tools")
    declarations: list[dict[str, Any]] = []
    names: set[str] = set()
    server: dict[str, Any] = {}
    for i, tool in enumerate(value):
        if not isinstance(tool, dict):
            raise InvalidRequest(f"'tools[{i}]' must be an object", param=f"tools[{i}]")
        tool = camel(tool)
        decls = tool.get("functionDeclarations") or []
        if not isinstance(decls, list):
            raise InvalidRequest(
                f"'tools[{i}].functionDeclarations' must be an array",
                param=f"tools[{i}].functionDeclarations",
            )
        for j, decl in enumerate(decls):
            out, fix = declaration(decl, f"tools[{i}].functionDeclarations[{j}]", budget)
            if out["name"] not in names:  # "Tool names must be unique" upstream
                names.add(out["name"])
                declarations.append(out)
                if fix is not None:
                    fixes[out["name"]] = fix
        for key in SERVER_TOOLS:
            if key in tool:
                server[key] = tool[key] if isinstance(tool[key], dict) else {}
        if "googleSearchRetrieval" in tool:  # the Gemini 1.5 spelling
            server["googleSearch"] = {}
    out_tools: list[dict[str, Any]] = []
    if declarations:
        out_tools.append({"functionDeclarations": declarations})
    elif not (families.is_claude(model) or families.is_image_model(model)):
        out_tools.extend({key: config} for key, config in server.items())
    return out_tools


def declaration(
    decl: Any, where: str, budget: SchemaBudget | None = None
) -> tuple[dict[str, Any], ArgFix | None]:
    if not isinstance(decl, dict):
        raise InvalidRequest(f"'{where}' must be an object", param=where)
    decl = camel(decl)
    name = decl.get("name")
    if not isinstance(name, str) or not name:
        raise InvalidRequest(f"'{where}.name' must be a non-empty string", param=f"{where}.name")
    out: dict[str, Any] = {"name": name}
    description = decl.get("description")
    if isinstance(description, str) and description:
        out["description"] = description
    # Gemini CLI sends JSON Schema as parametersJsonSchema; the backend gets the cleaned subset.
    key = "parametersJsonSchema" if "parametersJsonSchema" in decl else "parameters"
    schema, fix = clean_schema_typed(decl.get(key), f"{where}.{key}", budget)
    out["parameters"] = lower_types(schema)
    return out, fix


def lower_types(schema: Any) -> Any:
    """``"type": "OBJECT"`` (the Gemini API's enum spelling) → ``"object"``, in place, so the
    family rules (Claude's placeholder for property-less objects) recognise it."""
    if isinstance(schema, dict):
        kind = schema.get("type")
        if isinstance(kind, str):
            schema["type"] = kind.lower()
        for key in ("properties",):
            for sub in (schema.get(key) or {}).values():
                lower_types(sub)
        for key in ("items",):
            lower_types(schema.get(key))
        for sub in schema.get("anyOf") or ():
            lower_types(sub)
    return schema


def _tool_config(config: dict[str, Any]) -> dict[str, Any]:
    calling = config.get("functionCallingConfig")
    if calling is None:
        return {}
    if not isinstance(calling, dict):
        raise InvalidRequest(
            "'toolConfig.functionCallingConfig' must be an object",
            param="toolConfig.functionCallingConfig",
        )
    calling = camel(calling)
    checks.check_function_calling(calling)
    mode = calling.get("mode")
    if mode is not None and (not isinstance(mode, str) or mode.upper() not in _MODES):
        raise InvalidRequest(
            f"'toolConfig.functionCallingConfig.mode' must be one of {', '.join(_MODES)}",
            param="toolConfig.functionCallingConfig.mode",
        )
    out = {k: v for k, v in calling.items() if k in ("mode", "allowedFunctionNames")}
    if mode is not None:
        out["mode"] = mode.upper()
    return {"functionCallingConfig": out}


_MODES = ("AUTO", "ANY", "NONE", "VALIDATED")


def generation_config(
    value: Any,
    model: str,
    thinking_default: dict[str, Any] | None,
    budget: SchemaBudget | None = None,
) -> dict[str, Any]:
    if value is None:
        value = {}
    if not isinstance(value, dict):
        raise InvalidRequest("'generationConfig' must be an object", param="generationConfig")
    value = camel(value)
    # null is absent, as in Google's JSON mapping (family rules compare these values).
    gen = {k: v for k, v in value.items() if k in GENERATION_FIELDS and v is not None}
    checks.check_generation(gen)
    for key in NUMBERS:
        number = gen.get(key)
        if number is not None and (isinstance(number, bool) or not isinstance(number, int | float)):
            raise InvalidRequest(
                f"'generationConfig.{key}' must be a number", param=f"generationConfig.{key}"
            )
    limit = output_limit(gen.get("maxOutputTokens"), "generationConfig.maxOutputTokens", model)
    if limit is not None:
        gen["maxOutputTokens"] = limit
    schema_key = "responseSchema" if "responseSchema" in value else "responseJsonSchema"
    if value.get(schema_key) is not None:
        gen["responseSchema"] = lower_types(
            clean_schema(value[schema_key], f"generationConfig.{schema_key}", budget)
        )
    thinking = value.get("thinkingConfig")
    if thinking is None:
        if thinking_default:
            gen["thinkingConfig"] = dict(thinking_default)
    else:
        if not isinstance(thinking, dict):
            raise InvalidRequest(
                "'generationConfig.thinkingConfig' must be an object",
                param="generationConfig.thinkingConfig",
            )
        thinking = camel(thinking)
        checks.check_thinking(thinking)
        fitted = fit_thinking(thinking, model)
        if fitted is None:
            gen.pop("thinkingConfig", None)
        else:
            gen["thinkingConfig"] = fitted
    if families.is_claude(model) and (gen.get("thinkingConfig") or {}).get("includeThoughts"):
        family_rules.claude_thinking_sampling(gen)
    return gen


def fit_thinking(config: dict[str, Any], model: str) -> dict[str, Any] | None:
    """The client's thinking config, made acceptable to the family: only Gemini 3 takes a
    ``thinkingLevel`` (for others it becomes the matching budget) and Claude takes no dynamic
    budget (-1). What the client chose (``includeThoughts``) is kept."""
    level = config.get("thinkingLevel")
    budget = config.get("thinkingBudget")
    effort: str | None = None
    if level is not None and not families.is_gemini3(model):
        effort = str(level).lower()
        if effort not in EFFORTS:
            raise InvalidRequest(
                "'generationConfig.thinkingConfig.thinkingLevel' must be one of "
                "MINIMAL, LOW, MEDIUM or HIGH",
                param="generationConfig.thinkingConfig.thinkingLevel",
            )
    elif families.is_claude(model) and budget == -1:
        effort = "high"
    if effort is None:
        return config
    fitted = thinking_for_effort(model, effort)
    if fitted is not None and "includeThoughts" in config:
        fitted["includeThoughts"] = bool(config["includeThoughts"])
    return fitted


def remote_file_parts(body: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(where, part) of every image ``fileData`` part with an http(s) URL in user turns: fetched
    and inlined by the handler before translation (the backend cannot fetch URLs)."""
    found: list[tuple[str, dict[str, Any]]] = []
    turns = body.get("contents")
    for i, turn in enumerate(turns if isinstance(turns, list) else ()):
        if not isinstance(turn, dict) or (turn.get("role") or "user") != "user":
            continue
        turn_parts = turn.get("parts")
        for j, part in enumerate(turn_parts if isinstance(turn_parts, list) else ()):
            data = part.get("fileData") if isinstance(part, dict) else None
            uri = data.get("fileUri") if isinstance(data, dict) else None
            mime = str(data.get("mimeType") or "image/") if isinstance(data, dict) else ""
            if (
                isinstance(uri, str)
                and uri.startswith(("http://", "https://"))
                and mime.startswith("image/")
            ):
                found.append((f"contents[{i}].parts[{j}].fileData", part))
    return found


def inline_file(part: dict[str, Any], data_url: str) -> None:
    """A fetched ``fileData`` part becomes ``inlineData`` (``data:<mime>;base64,<data>``)."""
    head, _, data = data_url.partition(",")
    mime = head.removeprefix("data:").split(";")[0]
    part.pop("fileData", None)
    part["inlineData"] = {"mimeType": mime, "data": data}
