"""What the fake upstream's "model" answers, and the request checks the real backend makes.

Deterministic so tests can assert exact output: thoughts when asked, tool calls when the user
names a declared function (or ``ANY`` mode), JSON for JSON mode, truncation at
``maxOutputTokens``, stop sequences, a PNG for image models. Follow-up turns are validated as the
real backend does: Gemini 3 calls need a thought signature it issued (or the sentinel), Claude
needs paired tool-call ids (its thinking rules are ``fake_claude_rules``).
"""

from __future__ import annotations

import base64
import json
import uuid
from dataclasses import dataclass, field
from typing import Any

from ag2api.models.families import is_claude, is_gemini3
from ag2api.testing import fake_bodies as bodies

SENTINEL = "skip_thought_signature_validator"
# A 1x1 PNG.
PNG_B64 = (
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJ"
    "RU5ErkJggg=="
)


@dataclass
class ModelError(Exception):
    status: int
    body: dict[str, Any]


@dataclass
class Answer:
    thoughts: list[str] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)
    calls: list[dict[str, Any]] = field(default_factory=list)
    images: list[dict[str, Any]] = field(default_factory=list)
    finish: str = "STOP"


def _bad_request(message: str, claude: bool) -> ModelError:
    if claude:  # Claude errors come wrapped as a JSON string (docs/protocol.md §5.1)
        message = json.dumps(
            {
                "type": "error",
                "error": {"type": "invalid_request_error", "message": message},
                "request_id": "req_vrtx_fake",
            }
        )
    return ModelError(
        400, {"error": {"code": 400, "message": message, "status": "INVALID_ARGUMENT"}}
    )


def validate(model: str, request: dict[str, Any], issued: set[str]) -> None:
    """Raise ModelError where the real backend would answer 400."""
    claude = is_claude(model)
    thinking = (request.get("generationConfig") or {}).get("thinkingConfig") or {}
    for decl in _declarations(request):
        if claude and not (decl.get("parameters") or {}).get("properties"):
            raise _bad_request(
                f"tools.{decl['name']}.input_schema: object schema needs "
                "properties in VALIDATED mode",
                claude,
            )
    if claude and isinstance(thinking.get("thinkingBudget"), int):
        limit = (request.get("generationConfig") or {}).get("maxOutputTokens")
        if (
            thinking["thinkingBudget"] > 0
            and limit is not None
            and limit <= thinking["thinkingBudget"]
        ):
            raise _bad_request("max_tokens must be greater than thinking.budget_tokens", claude)
    call_ids: set[str] = set()
    for n, turn in enumerate(request.get("contents") or []):
        parts = turn.get("parts") or []
        for part in parts:
            sig = _canonical(part.get("thoughtSignature"))
            if "functionCall" in part:
                call_ids.add(str(part["functionCall"].get("id")))
                if is_gemini3(model) and sig is None:
                    raise _bad_request(
                        "Function call is missing a thought_signature in functionCall parts. "
                        "This is required for tools to work correctly, and missing "
                        f"thought_signature may lead to degraded model performance. position {n}",
                        claude,
                    )
                if sig is not None and sig != SENTINEL and sig not in issued:
                    raise _bad_request("Corrupted thought signature.", claude)
            elif part.get("thought") and claude and sig not in issued:
                raise _bad_request(
                    f"messages.{n}.content.0: Invalid `signature` in `thinking` block", claude
                )
            response_id = str((part.get("functionResponse") or {}).get("id"))
            if claude and "functionResponse" in part and response_id not in call_ids:
                raise _bad_request("unexpected `tool_use_id` found in `tool_result` blocks", claude)
    # Claude's thinking rule (only the open tool loop needs its signed thinking) is
    # fake_claude_rules.check, run by the fake upstream after this.


def _canonical(sig: Any) -> Any:
    """A signature is proto ``bytes``: the backend takes it in either base64 alphabet
    (google-genai sends back the URL-safe one)."""
    if isinstance(sig, str) and sig != SENTINEL:
        return sig.replace("-", "+").replace("_", "/")
    return sig


def _declarations(request: dict[str, Any]) -> list[dict[str, Any]]:
    return [d for tool in request.get("tools") or [] for d in tool.get("functionDeclarations", [])]


def answer(model: str, request: dict[str, Any], text: str | None, issued: set[str]) -> Answer:
    gen = request.get("generationConfig") or {}
    thinking = gen.get("thinkingConfig") or {}
    contents = request.get("contents") or []
    said = bodies.last_user_text(request) or "nothing"
    out = Answer()
    if thinking.get("includeThoughts"):
        out.thoughts = ["Thinking about what ", f"the user said: {said[:60]}"]
    if model.endswith("-image"):
        out.texts = [f"Here is {said[:40]}."]
        out.images = [{"mimeType": "image/png", "data": PNG_B64}]
        return out
    last = contents[-1]["parts"] if contents else []
    results = [p["functionResponse"] for p in last if "functionResponse" in p]
    calls = [] if results else _tool_calls(request, said)
    if calls:
        out.calls = calls
        for i, tool_call in enumerate(out.calls):
            if is_claude(model):
                tool_call["id"] = f"toolu_{uuid.uuid4().hex[:20]}"
            elif i == 0 and is_gemini3(model):
                tool_call["signature"] = new_signature(issued)
        return out
    if results:
        reply = "The tools said: " + json.dumps(
            [r.get("response") for r in results], separators=(",", ":")
        )
    elif gen.get("responseMimeType") == "application/json":
        reply = json.dumps(
            fake_value(gen.get("responseSchema")) if gen.get("responseSchema") else {"answer": said}
        )
    else:
        images = [
            p["inlineData"]["mimeType"]
            for turn in contents
            for p in turn.get("parts", [])
            if "inlineData" in p
        ]
        seen = f" I see {len(images)} image(s): {', '.join(images)}." if images else ""
        reply = f"Hello from the ag2api fake upstream ({model})! You said: {said}{seen}"
    if text is not None:
        reply = text
    for stop in gen.get("stopSequences") or []:
        if stop in reply:
            reply = reply[: reply.index(stop)]
    words = reply.split(" ")
    limit = gen.get("maxOutputTokens")
    if isinstance(limit, int) and limit < len(words):
        words, out.finish = words[:limit], "MAX_TOKENS"
    third = max(1, len(words) // 3)
    chunks = [
        " ".join(words[:third]),
        " ".join(words[third : 2 * third]),
        " ".join(words[2 * third :]),
    ]
    out.texts = [c + (" " if i < 2 and chunks[i + 1] else "") for i, c in enumerate(chunks) if c]
    return out


def new_signature(issued: set[str]) -> str:
    sig = base64.b64encode(b"sig:" + uuid.uuid4().bytes * 3).decode()
    issued.add(sig)
    return sig


def _tool_calls(request: dict[str, Any], said: str) -> list[dict[str, Any]]:
    decls = _declarations(request)
    config = (request.get("toolConfig") or {}).get("functionCallingConfig") or {}
    mode = config.get("mode", "AUTO")
    allowed = config.get("allowedFunctionNames")
    if not decls or mode == "NONE":
        return []
    if allowed:
        decls = [d for d in decls if d["name"] in allowed]
    if mode != "ANY":
        decls = [d for d in decls if d["name"] in said]
    if not decls:
        return []
    chosen = decls if "parallel" in said else decls[:1]
    return [{"name": d["name"], "args": fake_value(d.get("parameters"))} for d in chosen]


def fake_value(schema: Any, name: str = "value") -> Any:
    """A deterministic value that fits ``schema`` (Gemini schema subset)."""
    if not isinstance(schema, dict):
        return f"{name}-value"
    if schema.get("enum"):
        return schema["enum"][0]
    kind = schema.get("type", "object")
    if kind == "object":
        props = schema.get("properties") or {}
        return {key: fake_value(sub, key) for key, sub in props.items()}
    if kind == "array":
        return [fake_value(schema.get("items"), name)]
    return {"integer": 1, "number": 1.5, "boolean": True}.get(kind, f"{name}-value")


def events(
    model: str, request: dict[str, Any], ans: Answer, issued: set[str]
) -> list[dict[str, Any]]:
    """The answer as stream events: thoughts, calls or text, images, finish with usage."""
    rid = uuid.uuid4().hex[:22]
    prompt = max(1, len(json.dumps(request.get("contents", []))) // 16)
    claude = is_claude(model)
    out: list[dict[str, Any]] = []

    def emit(parts: list[dict[str, Any]], **extra: Any) -> None:
        out.append(bodies.response_event(parts, model=model, response_id=rid, **extra))

    for i, thought in enumerate(ans.thoughts):
        part: dict[str, Any] = {"text": thought, "thought": True}
        if i == 0 and not claude:
            part["thoughtSignature"] = new_signature(issued)
        emit([part])
    if ans.thoughts and claude:
        emit([{"text": "", "thoughtSignature": new_signature(issued)}])
    for tool_call in ans.calls:
        fc = {"name": tool_call["name"], "args": tool_call["args"]}
        if "id" in tool_call:
            fc["id"] = tool_call["id"]
        part = {"functionCall": fc}
        if tool_call.get("signature"):
            part["thoughtSignature"] = tool_call["signature"]
        emit([part])
    completion = 0
    for text in ans.texts:
        completion += max(1, len(text.split()))
        emit(
            [{"text": text}],
            usage={
                "promptTokenCount": prompt,
                "candidatesTokenCount": completion,
                "totalTokenCount": prompt + completion,
            },
        )
    for image in ans.images:
        completion += 1290
        emit([{"inlineData": image}])
    completion += 3 * len(ans.calls)
    thoughts = 4 * len(ans.thoughts)
    emit(
        [{"text": ""}],
        finish=ans.finish,
        usage={
            "promptTokenCount": prompt,
            "candidatesTokenCount": completion,
            "thoughtsTokenCount": thoughts,
            "totalTokenCount": prompt + completion + thoughts,
        },
    )
    return out


def merge(events: list[dict[str, Any]]) -> dict[str, Any]:
    """A non-stream body: all parts of the events in one candidate, last finish and usage."""
    parts: list[dict[str, Any]] = []
    last = events[-1]["response"] if events else {}
    for event in events:
        for cand in event.get("response", {}).get("candidates", [])[:1]:
            parts.extend(p for p in cand.get("content", {}).get("parts", []) if p != {"text": ""})
    response = dict(last)
    cands = last.get("candidates") or [{}]
    response["candidates"] = [{**cands[0], "content": {"role": "model", "parts": parts}}]
    return {"response": response, "traceId": "71e379e3bb5c38c5"}
