"""Anthropic Messages request body → Gemini ``generateContent`` request + what the answer needs.

Pure: dicts in, dicts out; every problem is an ``InvalidRequest`` naming the parameter. Fields
the upstream would reject (``cache_control``, ``context_management``, ``metadata``,
``output_config`` once read, ``container``, ``mcp_servers``, betas …) are consumed, never
forwarded — the request is built field by field from what is understood.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ag2api.errors import InvalidRequest
from ag2api.models import families
from ag2api.translate.anthropic_messages.messages import convert_messages, system_parts
from ag2api.translate.anthropic_messages.tools import convert_tools, tool_config
from ag2api.translate.gemini import family_rules
from ag2api.translate.gemini.schema import SchemaBudget
from ag2api.translate.gemini.session import session_id
from ag2api.translate.gemini.tools import add_tools
from ag2api.translate.gemini.turns import close_unsigned_loop, thinking_on
from ag2api.translate.input import EFFORTS, integer, number, output_limit, put
from ag2api.translate.typed_args import ArgFix

MAX_STOP_SEQUENCES = 5  # Gemini's limit


@dataclass(frozen=True)
class RequestInfo:
    """What rendering the answer needs to know about the request."""

    model: str
    thinking: bool = False  # thoughts were asked of the upstream
    tool_names: dict[str, str] = field(default_factory=dict)  # declared name → client name
    placeholders: frozenset[str] = frozenset()  # declared names given the placeholder property
    # declared name → what to undo in its calls' input (typed enum members, placeholders)
    arg_fixes: Mapping[str, ArgFix] = field(default_factory=dict)
    dropped_thinking: int = 0  # thinking blocks not replayable to this model
    closed_loop: bool = False  # an open tool loop was closed (its thinking was foreign)

    def __post_init__(self) -> None:
        # ``placeholders`` alone (no fix recorded for the name) still means "drop it at the top".
        missing = self.placeholders - set(self.arg_fixes)
        if missing:
            top = ArgFix(added=frozenset(family_rules.PLACEHOLDER))
            object.__setattr__(self, "arg_fixes", {**self.arg_fixes, **dict.fromkeys(missing, top)})


def to_gemini(
    body: Any, *, model: str, thinking_default: dict[str, Any] | None
) -> tuple[dict[str, Any], RequestInfo]:
    """Translate ``body`` for upstream ``model``; ``thinking_default`` is the model rule's
    ``thinkingConfig``, used when the body has no ``thinking`` field."""
    if not isinstance(body, dict):
        raise InvalidRequest("The request body must be a JSON object", param=None)
    gen = generation_config(body, model=model, thinking_default=thinking_default)
    thinking = gen.get("thinkingConfig") or {}
    keep_thinking = bool(thinking.get("includeThoughts"))
    tools = convert_tools(body.get("tools"), model=model, budget=SchemaBudget())
    converted = convert_messages(
        body.get("messages"),
        model=model,
        keep_thinking=keep_thinking,
        tool_name=tools.upstream_name,
    )
    request: dict[str, Any] = {"contents": converted.contents}
    system = system_parts(body.get("system")) + converted.system
    if system:
        request["systemInstruction"] = {"role": "user", "parts": system}
    if gen:
        request["generationConfig"] = gen
    add_tools(
        request, tools.declarations, tools.search, tool_config(body.get("tool_choice"), tools)
    )
    request["sessionId"] = session_id(converted.contents)
    fixes = family_rules.apply_family_rules(request, model, tools.fixes)
    closed = close_unsigned_loop(request, model)
    return request, RequestInfo(
        model=model,
        thinking=thinking_on(request),
        tool_names=tools.to_client(),
        placeholders=family_rules.top_level_placeholders(fixes),
        arg_fixes=fixes,
        dropped_thinking=converted.dropped_thinking,
        closed_loop=closed,
    )


def remote_images(body: Any) -> list[tuple[str, dict[str, Any]]]:
    """(where, the ``source`` object) of every URL image in user turns, tool results included.

    The handler fetches each (``ImageFetcher.fetch``) and calls :func:`inline_source`; the
    translation itself never does I/O, and refuses URL sources still left.
    """
    found: list[tuple[str, dict[str, Any]]] = []
    messages = body.get("messages") if isinstance(body, dict) else None
    for i, msg in enumerate(messages if isinstance(messages, list) else ()):
        content = msg.get("content") if isinstance(msg, dict) else None
        if not isinstance(content, list) or msg.get("role") != "user":
            continue
        for j, block in enumerate(content):
            if not isinstance(block, dict):
                continue
            inner = block.get("content") if block.get("type") == "tool_result" else [block]
            for k, sub in enumerate(inner if isinstance(inner, list) else ()):
                source = sub.get("source") if isinstance(sub, dict) else None
                if (
                    isinstance(sub, dict)
                    and sub.get("type") == "image"
                    and isinstance(source, dict)
                    and source.get("type") == "url"
                    and isinstance(source.get("url"), str)
                ):
                    where = f"messages.{i}.content.{j}" + (
                        f".content.{k}" if block is not sub else ""
                    )
                    found.append((where, source))
    return found


def inline_source(source: dict[str, Any], data_url: str) -> None:
    """Turn a fetched URL ``source`` into a base64 one, in place (``data:<mime>;base64,<data>``)."""
    head, _, data = data_url.partition(",")
    mime = head.removeprefix("data:").split(";")[0]
    source.clear()
    source.update({"type": "base64", "media_type": mime, "data": data})


def generation_config(
    body: dict[str, Any], *, model: str, thinking_default: dict[str, Any] | None
) -> dict[str, Any]:
    gen: dict[str, Any] = {}
    put(gen, "temperature", number(body, "temperature", 0, 1))
    put(gen, "topP", number(body, "top_p", 0, 1))
    top_k = integer(body, "top_k", 0, 1_000_000)
    if top_k:
        gen["topK"] = top_k
    put(gen, "maxOutputTokens", output_limit(body.get("max_tokens"), "max_tokens", model))
    stops = body.get("stop_sequences")
    if stops is not None:
        if not isinstance(stops, list) or not all(isinstance(s, str) and s for s in stops):
            raise InvalidRequest(
                "'stop_sequences' must be an array of non-empty strings", param="stop_sequences"
            )
        if len(stops) > MAX_STOP_SEQUENCES:
            raise InvalidRequest(
                f"'stop_sequences' takes at most {MAX_STOP_SEQUENCES} sequences here",
                param="stop_sequences",
            )
        if stops:
            gen["stopSequences"] = list(stops)
    thinking = thinking_config(body, model, thinking_default)
    if thinking:
        gen["thinkingConfig"] = thinking
    family_rules.claude_generation_limits(gen, model)
    return gen


def thinking_config(
    body: dict[str, Any], model: str, default: dict[str, Any] | None
) -> dict[str, Any] | None:
    """``thinking`` + ``output_config.effort`` → ``thinkingConfig`` (None: send none).

    ``display: "omitted"`` is not honoured: the thinking text is always sent, because the
    client replays it with the signature and the backend checks the two together.
    """
    effort = _effort(body)
    thinking = body.get("thinking")
    if thinking is None:
        if effort is not None:
            return families.thinking_for_effort(model, effort)
        return dict(default) if default else None
    kind = thinking.get("type") if isinstance(thinking, dict) else None
    if kind == "disabled":
        return families.thinking_for_effort(model, "none")
    if kind == "adaptive":
        return families.thinking_for_effort(model, effort or "high")
    if kind != "enabled" or not isinstance(thinking, dict):
        raise InvalidRequest(
            "'thinking.type' must be enabled, adaptive or disabled", param="thinking"
        )
    budget = thinking.get("budget_tokens")
    if isinstance(budget, bool) or not isinstance(budget, int) or budget < 1:
        raise InvalidRequest(
            "'thinking.budget_tokens' must be a positive integer", param="thinking"
        )
    return families.thinking_for_budget(model, budget)


def _effort(body: dict[str, Any]) -> str | None:
    config = body.get("output_config")
    if config is None:
        return None
    if not isinstance(config, dict):
        raise InvalidRequest("'output_config' must be an object", param="output_config")
    effort = config.get("effort")
    if effort is None:
        return None
    if effort not in EFFORTS[1:]:
        raise InvalidRequest(
            f"'output_config.effort' must be one of {', '.join(EFFORTS[1:])}",
            param="output_config",
        )
    return str(effort)
