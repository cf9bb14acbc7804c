"""The http(s) image URLs of an OpenAI chat body, for the gateway to fetch and inline."""

from __future__ import annotations

from functools import partial
from typing import Any

from ag2api.translate.dialect import RemoteImage


def openai_remote_images(body: dict[str, Any]) -> list[RemoteImage]:
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
