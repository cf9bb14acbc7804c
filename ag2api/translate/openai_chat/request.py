"""OpenAI Chat Completions request body → plain Gemini ``generateContent`` request.

Pure: dicts in, dict out; every problem is an ``InvalidRequest`` naming the parameter.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from ag2api.errors import InvalidRequest
from ag2api.models import families
from ag2api.models.families import is_image_model
from ag2api.translate.dialect import RemoteImage
from ag2api.translate.gemini import family_rules
from ag2api.translate.gemini.schema import SchemaBudget, clean_schema, clean_schema_typed
from ag2api.translate.gemini.session import session_id
from ag2api.translate.input import (
    check_nesting,
    integer,
    number,
    output_limit,
    put,
    requested_effort,
)
from ag2api.translate.openai_chat.messages import SignatureLookup, convert_messages
from ag2api.translate.openai_chat.tools import declared_tools, function_declarations, tool_config
from ag2api.translate.typed_args import ArgFix, restore_args, restore_json_text

__all__ = ["RequestInfo", "remote_images", "to_gemini", "translate_chat"]


@dataclass(frozen=True, slots=True)
class RequestInfo:
    """What the answer translators must know about the request they answer.

    ``legacy_functions``: the request declared the deprecated ``functions``, so the answer
    carries ``function_call`` (one tool call, ``finish_reason: "function_call"``), not
    ``tool_calls``.
    ``tools`` / ``content``: where function-call args / structured-output JSON must get back what
    the upstream schema could not carry (typed enum members, no gateway placeholders)."""

    legacy_functions: bool = False
    tools: Mapping[str, ArgFix] = field(default_factory=dict)
    content: ArgFix | None = None

    def call_args(self, name: str, args: Any) -> Any:
        return restore_args(self.tools, name, args) if self.tools else args

    def content_text(self, text: str) -> str:
        return restore_json_text(self.content, text)


def to_gemini(
    body: dict[str, Any],
    *,
    model: str,
    thinking: dict[str, Any] | None,
    signatures: SignatureLookup | None = None,
) -> dict[str, Any]:
    """Translate ``body``; ``thinking`` is the model rule's ``thinkingConfig`` (or None).

    ``reasoning_effort`` overrides that rule. ``signatures`` finds Claude thinking blocks for
    replayed tool calls (Gemini signatures travel inside the tool-call ids).
    """
    return translate_chat(body, model=model, thinking=thinking, signatures=signatures)[0]


def translate_chat(
    body: dict[str, Any],
    *,
    model: str,
    thinking: dict[str, Any] | None,
    signatures: SignatureLookup | None = None,
) -> tuple[dict[str, Any], RequestInfo]:
    """:func:`to_gemini`, and the :class:`RequestInfo` the answer translators need for it."""
    check_nesting(body)
    is_claude = families.is_claude(model)
    system_parts, contents = convert_messages(
        body.get("messages"), is_claude=is_claude, signatures=signatures
    )
    if is_image_model(model):
        return image_request(body, contents), RequestInfo()
    request: dict[str, Any] = {"contents": contents}
    if system_parts:
        request["systemInstruction"] = {"role": "user", "parts": system_parts}
    effort = requested_effort(body)
    if effort is not None:
        thinking = families.thinking_for_effort(model, effort)
    if (
        is_claude
        and thinking
        and thinking.get("includeThoughts")
        and _claude_thinking_lost(contents)
    ):
        # Claude with thinking on needs each tool-calling turn to start with its signed thinking
        # block; when the gateway does not know it (e.g. after a restart), answer this turn
        # without.
        thinking = None
    budget = SchemaBudget()  # shared by every schema of the request
    generation = generation_config(body, model=model, thinking=thinking, budget=budget)
    if generation:
        request["generationConfig"] = generation
    tools, choice, legacy = declared_tools(body)
    fixes: dict[str, ArgFix] = {}
    declarations = function_declarations(tools, fixes=fixes, legacy=legacy, budget=budget)
    if declarations:
        request["tools"] = [{"functionDeclarations": declarations}]
        request["toolConfig"] = tool_config(choice, declarations)
    elif choice not in (None, "none", "auto"):
        param = "function_call" if legacy else "tool_choice"
        raise InvalidRequest(f"'{param}' needs functions to be declared", param=param)
    request["sessionId"] = session_id(contents)
    fixes = family_rules.apply_family_rules(request, model, fixes)
    info = RequestInfo(
        legacy_functions=legacy and bool(declarations),
        tools=fixes,
        content=_response_fix(body.get("response_format"), budget),
    )
    return request, info


def _claude_thinking_lost(contents: list[dict[str, Any]]) -> bool:
    return any(
        turn["role"] == "model"
        and any("functionCall" in p for p in turn["parts"])
        and not turn["parts"][0].get("thought")
        for turn in contents
    )


# OpenAI ``size`` → Gemini ``aspectRatio``.
ASPECT_RATIOS = {
    "1024x1024": "1:1",
    "512x512": "1:1",
    "256x256": "1:1",
    "1792x1024": "16:9",
    "1024x1792": "9:16",
    "1536x1024": "3:2",
    "1024x1536": "2:3",
    "auto": "1:1",
}


def image_request(body: dict[str, Any], contents: list[dict[str, Any]]) -> dict[str, Any]:
    """The image-model shape (docs/protocol.md §7.5): no system prompt, no tools, image config."""
    options = body.get("image_config")
    if options is None:
        options = {}
    if not isinstance(options, dict):
        raise InvalidRequest("'image_config' must be an object", param="image_config")
    size = body.get("size")
    if size is not None and (not isinstance(size, str) or size not in ASPECT_RATIOS):
        raise InvalidRequest(f"'size' must be one of {', '.join(ASPECT_RATIOS)}", param="size")
    aspect = options.get("aspect_ratio") or ASPECT_RATIOS.get(size or "auto", "1:1")
    if not isinstance(aspect, str):
        raise InvalidRequest(
            "'image_config.aspect_ratio' must be a string", param="image_config.aspect_ratio"
        )
    image_size = options.get("image_size") or ("2K" if body.get("quality") == "hd" else "1K")
    if not isinstance(image_size, str) or image_size not in ("1K", "2K", "4K"):
        raise InvalidRequest(
            "'image_config.image_size' must be 1K, 2K or 4K", param="image_config.image_size"
        )
    request = {
        "contents": contents,
        "generationConfig": {"imageConfig": {"aspectRatio": aspect, "imageSize": image_size}},
        "sessionId": session_id(contents),
    }
    family_rules.image_shape(request)
    return request


def generation_config(
    body: dict[str, Any],
    *,
    model: str,
    thinking: dict[str, Any] | None,
    budget: SchemaBudget | None = None,
) -> dict[str, Any]:
    gen: dict[str, Any] = {}
    put(gen, "temperature", number(body, "temperature", 0, 2))
    put(gen, "topP", number(body, "top_p", 0, 1))
    put(gen, "topK", integer(body, "top_k", 1, 1000))
    for key in ("max_tokens", "max_completion_tokens"):  # the current name wins over the old
        put(gen, "maxOutputTokens", output_limit(body.get(key), key, model))
    _unsupported_knobs(body, model)
    put(gen, "presencePenalty", number(body, "presence_penalty", -2, 2))
    put(gen, "frequencyPenalty", number(body, "frequency_penalty", -2, 2))
    put(gen, "seed", integer(body, "seed", -(2**63), 2**63 - 1))
    for key in ("presencePenalty", "frequencyPenalty"):
        if gen.get(key) == 0:
            del gen[key]  # the neutral value some clients always send
    stop = body.get("stop")
    if stop is not None:
        stops = [stop] if isinstance(stop, str) else stop
        if not isinstance(stops, list) or not all(isinstance(s, str) and s for s in stops):
            raise InvalidRequest("'stop' must be a string or a list of strings", param="stop")
        if len(stops) > 5:
            raise InvalidRequest("'stop' takes at most 5 sequences", param="stop")
        if stops:
            gen["stopSequences"] = stops
    _response_format(body.get("response_format"), gen, budget)
    if thinking:
        gen["thinkingConfig"] = dict(thinking)
    if families.is_claude(model):
        family_rules.claude_output_limit(gen)
    return gen


def _unsupported_knobs(body: dict[str, Any], model: str) -> None:
    """A clear 400 for parameters the model family cannot honour (never silently dropped)."""
    n = body.get("n")
    if n is not None and (not isinstance(n, int) or isinstance(n, bool) or n < 1):
        raise InvalidRequest("'n' must be a positive integer", param="n")
    if n is not None and n > 1:
        raise InvalidRequest("Only n=1 is supported: the gateway returns one choice", param="n")
    if body.get("logprobs") or body.get("top_logprobs"):
        param = "logprobs" if body.get("logprobs") else "top_logprobs"
        raise InvalidRequest(f"'{param}' is not supported by the Antigravity backend", param=param)
    modalities = body.get("modalities")
    if isinstance(modalities, list) and "audio" in modalities:
        raise InvalidRequest("Audio output is not supported", param="modalities")
    penalties_ok = families.takes_penalties(model)
    for key in ("presence_penalty", "frequency_penalty"):
        if body.get(key) not in (None, 0) and not penalties_ok:
            raise InvalidRequest(f"'{key}' is not supported by {model}", param=key)
    if body.get("seed") is not None and not families.takes_seed(model):
        raise InvalidRequest(f"'seed' is not supported by {model}", param="seed")


def _response_format(fmt: Any, gen: dict[str, Any], budget: SchemaBudget | None) -> None:
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
        if not isinstance(spec, dict):
            raise InvalidRequest(
                "'response_format.json_schema' must be an object",
                param="response_format.json_schema",
            )
        if not isinstance(spec.get("schema", {}), dict):
            raise InvalidRequest(
                "'response_format.json_schema.schema' must be an object",
                param="response_format.json_schema.schema",
            )
        if spec.get("schema"):
            gen["responseSchema"] = clean_schema(
                spec["schema"], "response_format.json_schema.schema", budget
            )


def _response_fix(fmt: Any, budget: SchemaBudget) -> ArgFix | None:
    """Where structured output must get typed enum members back (None: nowhere).

    Called after :func:`_response_format` accepted ``fmt``, so its shape is known to be valid.
    """
    if not isinstance(fmt, dict) or fmt.get("type") != "json_schema":
        return None
    schema = fmt["json_schema"].get("schema")
    if not schema:
        return None
    return clean_schema_typed(schema, "response_format.json_schema.schema", budget)[1]


def remote_images(body: dict[str, Any]) -> list[RemoteImage]:
    """Every http(s) ``image_url`` in the user messages of an OpenAI chat body."""
    found: list[RemoteImage] = []
    messages = body.get("messages")
    if not isinstance(messages, list):
        return found
    for i, msg in enumerate(messages):
        content = msg.get("content") if isinstance(msg, dict) else None
        if not isinstance(content, list) or msg.get("role") != "user":
            continue
        for j, part in enumerate(content):
            if isinstance(part, dict) and (url := _url_of(part)).startswith(
                ("http://", "https://")
            ):
                where = f"messages[{i}].content[{j}].image_url.url"
                found.append(RemoteImage(where, url, partial(_place_openai, part)))
    return found


def _place_openai(part: dict[str, Any], data_url: str) -> None:
    image = part["image_url"]
    detail = image.get("detail") if isinstance(image, dict) else None
    part["image_url"] = {"url": data_url, **({"detail": detail} if detail else {})}


def _url_of(part: dict[str, Any]) -> str:
    image = part.get("image_url")
    url = image.get("url") if isinstance(image, dict) else image  # the bare-string form too
    return url if isinstance(url, str) else ""
