"""The ``tools`` / ``toolConfig`` of a Gemini request, from what a dialect's tools became."""

from __future__ import annotations

from typing import Any


def add_tools(
    request: dict[str, Any],
    declarations: list[dict[str, Any]],
    search: bool,
    config: dict[str, Any] | None,
) -> None:
    """Function declarations (with ``config``, the calling mode), else Google Search when asked:
    the backend refuses the two together."""
    if declarations:
        request["tools"] = [{"functionDeclarations": declarations}]
        if config:
            request["toolConfig"] = config
    elif search:
        request["tools"] = [{"googleSearch": {}}]
