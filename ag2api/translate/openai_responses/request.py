"""Responses request body → Gemini ``generateContent`` request + what the answer needs.

Pure: dicts in, dicts out; a problem is an ``InvalidRequest`` naming the parameter. Fields with no
upstream meaning (``store``, ``include``, ``metadata``, ``truncation``, ``user``,
``service_tier``, ``text.verbosity``, ``client_metadata`` …) are accepted and never forwarded:
the request is built field by field from what is understood.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ag2api.errors import InvalidRequest
from ag2api.models import families
from ag2api.models.families import thinking_for_effort
from ag2api.translate.dialect import RemoteImage
from ag2api.translate.gemini import family_rules
from ag2api.translate.gemini.schema import SchemaBudget, clean_schema_typed
from ag2api.translate.gemini.session import session_id
from ag2api.translate.gemini.tools import add_tools
from ag2api.translate.gemini.turns import close_unsigned_loop, thinking_on
from ag2api.translate.input import EFFORTS, check_nesting, number, output_limit, put
from ag2api.translate.openai_responses import compaction
from ag2api.translate.openai_responses import items as input_items
from ag2api.translate.openai_responses.tools import ToolSet, convert_tools, tool_config
from ag2api.translate.typed_args import ArgFix, merge

SUMMARIES = ("auto", "concise", "detailed", "none")
VERBOSITIES = ("low", "medium", "high")


@dataclass(frozen=True)
class RequestInfo:
    """What rendering the answer needs to know about the request."""

    model: str  # the upstream model
    tools: ToolSet = field(default_factory=ToolSet)
    text_fix: ArgFix | None = None  # structured output: typed enum members to restore
    thinking: bool = False  # thoughts were asked of the upstream
    dropped_thinking: int = 0
    closed_loop: bool = False  # an open Claude tool loop was closed (its thinking was lost)
    compaction: bool = False  # Codex's compaction_trigger: the answer is one compaction item


def to_gemini(
    body: dict[str, Any], *, model: str, thinking_default: dict[str, Any] | None
) -> tuple[dict[str, Any], RequestInfo]:
    """``thinking_default``: the model rule's ``thinkingConfig`` (used without ``reasoning``)."""
    check_nesting(body)
    items = input_items.as_items(body.get("input"))
    # Codex's remote compaction: a last compaction_trigger asks for a summary of the history.
    compacting = bool(items) and items[-1].get("type") == compaction.TRIGGER
    budget = SchemaBudget()  # shared by every schema of the request
    gen = generation_config(body, model=model, thinking_default=thinking_default, budget=budget)
    if compacting and families.is_claude(model):
        # No thinking to sign and replay: an open tool loop needs no closing "[Continue]".
        gen.pop("thinkingConfig", None)
    thinking = bool((gen.get("thinkingConfig") or {}).get("includeThoughts"))
    tools = convert_tools(body.get("tools"), model=model, budget=budget)
    if compacting:
        # The summary, not a next step: the tools stay declared (Claude needs them for the
        # history's calls) but may not be called, and no search runs.
        config = tool_config("none", tools)
        tools.search = False
    else:
        config = tool_config(body.get("tool_choice"), tools)
    if body.get("parallel_tool_calls") not in (None, True, False):
        raise InvalidRequest("'parallel_tool_calls' must be a boolean", param="parallel_tool_calls")
    converted = input_items.convert(
        body.get("instructions"), items, model=model, tools=tools, thinking=thinking
    )
    request: dict[str, Any] = {"contents": converted.contents}
    if converted.system:
        request["systemInstruction"] = {"role": "user", "parts": converted.system}
    if gen:
        request["generationConfig"] = gen
    add_tools(request, tools.declarations, tools.search, config)
    request["sessionId"] = session_id(converted.contents, key=body.get("prompt_cache_key"))
    for name, fix in family_rules.apply_family_rules(request, model).items():
        merged = merge(tools.fixes.get(name), fix)  # Claude's placeholders
        if merged is not None:
            tools.fixes[name] = merged
    closed = close_unsigned_loop(request, model)
    if compacting:
        compaction.ask_for_summary(request["contents"])
    return request, RequestInfo(
        model=model,
        tools=tools,
        text_fix=_text_fix(body, budget),
        thinking=thinking_on(request),
        dropped_thinking=converted.dropped_thinking,
        closed_loop=closed,
        compaction=compacting,
    )


def generation_config(
    body: dict[str, Any],
    *,
    model: str,
    thinking_default: dict[str, Any] | None,
    budget: SchemaBudget | None = None,
) -> dict[str, Any]:
    gen: dict[str, Any] = {}
    put(gen, "temperature", number(body, "temperature", 0, 2))
    put(gen, "topP", number(body, "top_p", 0, 1))
    limit = output_limit(body.get("max_output_tokens"), "max_output_tokens", model)
    put(gen, "maxOutputTokens", limit)
    _text_format(body.get("text"), gen, budget)
    thinking = thinking_config(body.get("reasoning"), model, thinking_default)
    if thinking:
        gen["thinkingConfig"] = thinking
    family_rules.claude_generation_limits(gen, model)
    return gen


def thinking_config(
    reasoning: Any, model: str, default: dict[str, Any] | None
) -> dict[str, Any] | None:
    """``reasoning.effort`` → the family's thinking config; a ``summary`` asks for the thoughts."""
    if reasoning is None:
        return dict(default) if default else None
    if not isinstance(reasoning, dict):
        raise InvalidRequest("'reasoning' must be an object", param="reasoning")
    effort, summary = reasoning.get("effort"), reasoning.get("summary")
    if effort is not None and effort not in EFFORTS:
        raise InvalidRequest(
            f"'reasoning.effort' must be one of {', '.join(EFFORTS)}", param="reasoning.effort"
        )
    if summary is not None and summary not in SUMMARIES:
        raise InvalidRequest(
            f"'reasoning.summary' must be one of {', '.join(SUMMARIES)}",
            param="reasoning.summary",
        )
    config = thinking_for_effort(model, effort) if effort else (dict(default) if default else None)
    if summary in ("auto", "concise", "detailed") and effort != "none":
        if config is None and families.is_gemini(model):
            config = {"includeThoughts": True}
        elif config is not None and not config.get("includeThoughts") and _thinks(config):
            config = {**config, "includeThoughts": True}
    return config


def _thinks(config: dict[str, Any]) -> bool:
    budget = config.get("thinkingBudget")
    return "thinkingLevel" in config or (isinstance(budget, int) and budget != 0)


def _text_format(text: Any, gen: dict[str, Any], budget: SchemaBudget | None) -> None:
    if text is None:
        return
    if not isinstance(text, dict):
        raise InvalidRequest("'text' must be an object", param="text")
    verbosity = text.get("verbosity")
    if verbosity is not None and verbosity not in VERBOSITIES:
        raise InvalidRequest(
            f"'text.verbosity' must be one of {', '.join(VERBOSITIES)}", param="text.verbosity"
        )
    fmt = text.get("format")
    if fmt is None:
        return
    kind = fmt.get("type") if isinstance(fmt, dict) else None
    if kind not in ("text", "json_object", "json_schema"):
        raise InvalidRequest(
            "'text.format.type' must be text, json_object or json_schema", param="text.format"
        )
    if kind == "text":
        return
    gen["responseMimeType"] = "application/json"
    if kind == "json_schema":
        schema = fmt.get("schema")
        if not isinstance(schema, dict):
            raise InvalidRequest(
                "'text.format.schema' must be an object", param="text.format.schema"
            )
        if schema:
            gen["responseSchema"] = clean_schema_typed(schema, "text.format.schema", budget)[0]


def _text_fix(body: dict[str, Any], budget: SchemaBudget) -> ArgFix | None:
    """Where structured output needs typed enum members back (the format was checked)."""
    text = body.get("text")
    fmt = text.get("format") if isinstance(text, dict) else None
    if not isinstance(fmt, dict) or fmt.get("type") != "json_schema" or not fmt.get("schema"):
        return None
    return clean_schema_typed(fmt["schema"], "text.format.schema", budget)[1]


def remote_images(body: dict[str, Any]) -> list[RemoteImage]:
    """http(s) ``input_image`` URLs in user messages and tool outputs, for the handler to fetch."""
    found: list[RemoteImage] = []
    value = body.get("input")
    for n, item in enumerate(value if isinstance(value, list) else ()):
        if not isinstance(item, dict):
            continue
        if item.get("role") == "user":
            blocks, where = item.get("content"), f"input[{n}].content"
        else:
            blocks, where = item.get("output"), f"input[{n}].output"
        for j, block in enumerate(blocks if isinstance(blocks, list) else ()):
            url = block.get("image_url") if isinstance(block, dict) else None
            if (
                isinstance(block, dict)
                and block.get("type") == "input_image"
                and isinstance(url, str)
                and url.startswith(("http://", "https://"))
            ):
                found.append(RemoteImage(f"{where}[{j}]", url, _placer(block)))
    return found


def _placer(block: dict[str, Any]) -> Any:
    def place(data_url: str) -> None:
        block["image_url"] = data_url

    return place
