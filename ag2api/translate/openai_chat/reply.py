"""What the answer translators must know about the request they answer (built with it)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ag2api.translate.typed_args import ArgFix, restore_args, restore_json_text


@dataclass(frozen=True, slots=True)
class ReplyPlan:
    """``legacy_functions``: the request declared the deprecated ``functions``, so the answer
    carries ``function_call`` (one call, ``finish_reason: "function_call"``), not ``tool_calls``.
    ``tools`` / ``content``: where function-call args / structured-output JSON must get back what
    the upstream schema could not carry (typed enum members, no gateway placeholders)."""

    legacy_functions: bool = False
    tools: Mapping[str, ArgFix] = field(default_factory=dict)
    content: ArgFix | None = None

    def call_args(self, name: str, args: Any) -> Any:
        return restore_args(self.tools, name, args) if self.tools else args

    def content_text(self, text: str) -> str:
        return restore_json_text(self.content, text)
