"""OpenAI Images API (``POST /v1/images/generations``) ⇄ Gemini image models (pure)."""

from __future__ import annotations

from typing import Any

from ag2api.errors import InvalidRequest, UpstreamFailure
from ag2api.translate.dialect import openai_usage
from ag2api.translate.gemini.events import Event, Image, Text, Usage
from ag2api.translate.openai_chat.render import image_url

MAX_IMAGES = 4


def chat_body_for(body: dict[str, Any]) -> tuple[dict[str, Any], int, str]:
    """Validate an images request; (the equivalent chat body, n, response_format)."""
    prompt = body.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise InvalidRequest("'prompt' must be a non-empty string", param="prompt")
    n = body.get("n", 1)
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= MAX_IMAGES:
        raise InvalidRequest(f"'n' must be an integer from 1 to {MAX_IMAGES}", param="n")
    fmt = body.get("response_format") or "b64_json"
    if fmt not in ("b64_json", "url"):
        raise InvalidRequest("'response_format' must be b64_json or url", param="response_format")
    chat = {"messages": [{"role": "user", "content": prompt}]}
    for key in ("size", "quality", "image_config"):
        if body.get(key) is not None:
            chat[key] = body[key]
    return chat, n, fmt


def to_images_response(answers: list[list[Event]], fmt: str, created: int) -> dict[str, Any]:
    """The Images API answer from each image's upstream answer (typed events)."""
    data: list[dict[str, Any]] = []
    for events in answers:
        text = "".join(e.text for e in events if isinstance(e, Text))
        images = [e for e in events if isinstance(e, Image)]
        if not images:
            said = f": {text[:300]}" if text else ""
            raise UpstreamFailure(f"The model returned no image{said}")
        for image in images:
            item: dict[str, Any] = (
                {"b64_json": image.data} if fmt == "b64_json" else {"url": image_url(image)}
            )
            if text:
                item["revised_prompt"] = text
            data.append(item)
    return {"created": created, "data": data}


def images_usage(answers: list[list[Event]]) -> dict[str, Any]:
    """OpenAI-shaped usage of every image's answer together (the log, the statistics, and what
    the key is charged)."""
    total: dict[str, Any] = {}
    for events in answers:
        last = next((e for e in reversed(events) if isinstance(e, Usage)), None)
        for name, value in openai_usage(last).items():
            if isinstance(value, dict):
                inner = total.setdefault(name, {})
                for key, count in value.items():
                    inner[key] = inner.get(key, 0) + count
            else:
                total[name] = total.get(name, 0) + value
    return total
