"""Usage in OpenAI's chat shape: what Chat Completions answers, and what the request log, the
metrics and the statistics speak for every dialect."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ag2api.translate.gemini.events import Usage, output_tokens
from ag2api.translate.gemini.events import usage as read_usage


def openai_usage(meta: Usage | Mapping[str, Any] | None) -> dict[str, Any]:
    """OpenAI usage from the upstream's (``usageMetadata`` or its :class:`Usage` event).

    ``completion_tokens`` includes the thinking tokens, as OpenAI's does for reasoning models, and
    ``completion_tokens_details.reasoning_tokens`` says how many of them were thoughts. When the
    upstream's counts show that ``candidatesTokenCount`` already includes the thoughts
    (prompt + candidates == total), they are not added twice. ``total = prompt + completion``.
    """
    u = meta if isinstance(meta, Usage) else read_usage(dict(meta or {}))
    completion = output_tokens(u)
    return {
        "prompt_tokens": u.prompt,
        "completion_tokens": completion,
        "total_tokens": u.prompt + completion,
        "prompt_tokens_details": {"cached_tokens": u.cached},
        "completion_tokens_details": {"reasoning_tokens": u.thoughts},
    }
