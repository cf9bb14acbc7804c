"""Reading Gemini answers: one response (or stream chunk, out of the Antigravity envelope) → typed
events.

Every dialect renders the same few things — text, thoughts, signatures, tool calls, images, the
finish reason, usage — so the part-shape quirks (``thought_signature`` spelling, ``inline_data``,
missing candidates) are read once here. Runs per stream chunk: no copies beyond the events.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

CONTENT_FILTER_REASONS = frozenset(
    {
        "SAFETY",
        "RECITATION",
        "BLOCKLIST",
        "PROHIBITED_CONTENT",
        "SPII",
        "IMAGE_SAFETY",
        "IMAGE_PROHIBITED_CONTENT",
        "LANGUAGE",
    }
)


@dataclass(frozen=True, slots=True)
class Text:
    text: str


@dataclass(frozen=True, slots=True)
class Thought:
    text: str


@dataclass(frozen=True, slots=True)
class Signature:
    """A ``thoughtSignature`` on a part that is not a function call: on the text, thought or image
    just before it, or a part of its own (Claude's trailing empty-text part). Compared by value."""

    value: str
    # Where it sat, for a dialect that rebuilds the parts (the Gemini API): a part of its own
    # (an empty text at most) rather than on the part before it, and one marked as a thought.
    own_part: bool = field(default=False, compare=False)
    thought: bool = field(default=False, compare=False)


@dataclass(frozen=True, slots=True)
class ToolCall:
    name: str
    args: dict[str, Any]
    id: str | None
    signature: str | None


@dataclass(frozen=True, slots=True)
class Image:
    mime_type: str
    data: str  # base64


@dataclass(frozen=True, slots=True)
class OtherPart:
    """A part no event above carries, as sent: another kind (``executableCode``,
    ``codeExecutionResult``, ``fileData`` …) or an empty text. Only a dialect that speaks Gemini
    shows it; the others skip it."""

    part: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Finish:
    reason: str  # the raw Gemini finishReason


_USAGE_KEYS = {
    "prompt": "promptTokenCount",
    "cached": "cachedContentTokenCount",
    "candidates": "candidatesTokenCount",
    "thoughts": "thoughtsTokenCount",
    "total": "totalTokenCount",
}


class Usage:
    """``usageMetadata`` as sent (cumulative over a stream), read when asked.

    One arrives with every stream chunk and only the last is looked at, so :func:`read` keeps
    the upstream dict (:meth:`of`) instead of parsing it; the fields count a missing, boolean
    or non-integer value as 0. Immutable and compared by value, like the other events.
    """

    __slots__ = ("_meta",)
    _meta: Mapping[str, Any]

    def __init__(
        self,
        prompt: int = 0,
        cached: int = 0,
        candidates: int = 0,
        thoughts: int = 0,
        total: int = 0,
    ) -> None:
        values = (prompt, cached, candidates, thoughts, total)
        _set_meta(self, dict(zip(_USAGE_KEYS.values(), values, strict=True)))

    @classmethod
    def of(cls, meta: Mapping[str, Any]) -> Usage:
        usage = _new_object(cls)
        _set_meta(usage, meta)
        return usage

    @property
    def metadata(self) -> Mapping[str, Any]:
        """``usageMetadata`` as sent (every field, those not read here included)."""
        return self._meta

    def _count(self, field: str) -> int:
        value = self._meta.get(_USAGE_KEYS[field])
        return value if type(value) is int else 0  # not bool, not float

    @property
    def prompt(self) -> int:
        return self._count("prompt")

    @property
    def cached(self) -> int:
        return self._count("cached")

    @property
    def candidates(self) -> int:
        return self._count("candidates")

    @property
    def thoughts(self) -> int:
        return self._count("thoughts")

    @property
    def total(self) -> int:
        return self._count("total")

    def _values(self) -> tuple[int, ...]:
        return tuple(self._count(field) for field in _USAGE_KEYS)

    def counts(self) -> tuple[int, int, int, int]:
        """(prompt, cached, output, thoughts) in one read: what every answer's usage needs
        (output as :func:`output_tokens` counts it)."""
        get = self._meta.get
        values = (
            get("promptTokenCount"),
            get("cachedContentTokenCount"),
            get("candidatesTokenCount"),
            get("thoughtsTokenCount"),
            get("totalTokenCount"),
        )
        prompt, cached, candidates, thoughts, total = (v if type(v) is int else 0 for v in values)
        if thoughts and total and prompt + candidates == total:
            return prompt, cached, candidates, thoughts
        return prompt, cached, candidates + thoughts, thoughts

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"Usage is immutable: cannot set {name!r}")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Usage) and self._values() == other._values()

    def __hash__(self) -> int:
        return hash(self._values())

    def __repr__(self) -> str:
        fields = ", ".join(f"{f}={self._count(f)}" for f in _USAGE_KEYS)
        return f"Usage({fields})"


_new_object = object.__new__
_set_meta = Usage.__dict__["_meta"].__set__  # past the immutability guard, for construction


@dataclass(frozen=True, slots=True)
class Blocked:
    reason: str  # promptFeedback.blockReason


# Text(t) / Thought(t) at half the cost, for the parts of every stream chunk: a frozen
# dataclass's __init__ goes through object.__setattr__; setting the slot makes the same object.
_set_text = Text.__dict__["text"].__set__
_set_thought = Thought.__dict__["text"].__set__


def _text(text: str) -> Text:
    event = _new_object(Text)
    _set_text(event, text)
    return event


def _thought(text: str) -> Thought:
    event = _new_object(Thought)
    _set_thought(event, text)
    return event


Event = Text | Thought | Signature | ToolCall | Image | OtherPart | Finish | Usage | Blocked


def read(chunk: dict[str, Any]) -> list[Event]:
    """The events of one response/chunk, in part order, then finish, usage and block verdict.

    The hot path of every stream: :func:`candidate_parts` is inlined, usage is kept unparsed
    (:class:`Usage`), and a part that is nothing but text skips the checks for other kinds.
    """
    out: list[Event] = []
    candidates = chunk.get("candidates")
    if candidates and isinstance(candidates, list) and isinstance(candidates[0], dict):
        candidate = candidates[0]
        try:
            parts = candidate["content"]["parts"]
        except (KeyError, TypeError):  # no content (a finish-only chunk), or not objects
            parts = None
        if isinstance(parts, list):
            for part in parts:
                if not isinstance(part, dict):
                    continue
                # Most parts are {"text"} or {"text", "thought"}: no other kind to look for.
                text = part.get("text")
                size = len(part)
                if (
                    text
                    and isinstance(text, str)
                    and (size == 1 or (size == 2 and "thought" in part))
                ):
                    # _text / _thought inlined
                    if size == 2 and part["thought"]:
                        event: Event = _new_object(Thought)
                        _set_thought(event, text)
                    else:
                        event = _new_object(Text)
                        _set_text(event, text)
                    out.append(event)
                else:
                    _read_part(part, out)
        reason = candidate.get("finishReason")
        if reason and isinstance(reason, str):
            out.append(Finish(reason))
    meta = chunk.get("usageMetadata")
    if meta is not None and isinstance(meta, dict):
        usage = _new_object(Usage)  # Usage.of(meta), inlined
        _set_meta(usage, meta)
        out.append(usage)
    feedback = chunk.get("promptFeedback")
    if feedback is not None and isinstance(feedback, dict) and feedback.get("blockReason"):
        out.append(Blocked(str(feedback["blockReason"])))
    return out


class Reply:
    """One upstream response or stream chunk (out of the envelope), read into typed events once,
    when first asked. Every answer renders from :attr:`events`; what a response says beyond them
    (:class:`ReplyMeta`) is read only by a dialect that shows it (:attr:`meta`)."""

    __slots__ = ("_events", "_meta", "body")

    def __init__(self, body: dict[str, Any]) -> None:
        self.body = body
        self._events: list[Event] | None = None
        self._meta: ReplyMeta | None = None

    @property
    def events(self) -> list[Event]:
        if self._events is None:
            self._events = read(self.body)
        return self._events

    @property
    def meta(self) -> ReplyMeta:
        if self._meta is None:
            self._meta = read_meta(self.body)
        return self._meta


# A response's and a candidate's own fields that the events or ReplyMeta's named fields carry.
_READ_TOP = frozenset(
    {"candidates", "usageMetadata", "promptFeedback", "modelVersion", "responseId", "createTime"}
)
_READ_CANDIDATE = frozenset(
    {
        "content",
        "finishReason",
        "finishMessage",
        "safetyRatings",
        "citationMetadata",
        "groundingMetadata",
    }
)


@dataclass(frozen=True, slots=True)
class ReplyMeta:
    """What a response says beyond its events (parts, finish, usage, block verdict): who answered
    and the first candidate's annotations. Fields the gateway has no name for travel in
    ``candidate_extra`` / ``response_extra`` as sent, and candidates after the first (only with
    ``candidateCount`` > 1) whole in ``more_candidates``: the events read the first only."""

    has_candidate: bool = False  # a first candidate, even one with no parts
    model_version: str | None = None
    response_id: str | None = None
    create_time: str | None = None
    finish_message: str | None = None
    safety_ratings: list[Any] | None = None
    citations: dict[str, Any] | None = None  # citationMetadata
    grounding: dict[str, Any] | None = None  # groundingMetadata (googleSearch)
    prompt_feedback: dict[str, Any] | None = None  # whole: blockReason, safetyRatings …
    candidate_extra: Mapping[str, Any] = field(default_factory=dict)
    response_extra: Mapping[str, Any] = field(default_factory=dict)
    more_candidates: tuple[Any, ...] = ()


def read_meta(response: dict[str, Any]) -> ReplyMeta:
    candidates = response.get("candidates")
    first: dict[str, Any] = {}
    more: tuple[Any, ...] = ()
    has = False
    if isinstance(candidates, list) and candidates and isinstance(candidates[0], dict):
        first, more, has = candidates[0], tuple(candidates[1:]), True
    return ReplyMeta(
        has_candidate=has,
        model_version=_str(response.get("modelVersion")),
        response_id=_str(response.get("responseId")),
        create_time=_str(response.get("createTime")),
        finish_message=_str(first.get("finishMessage")),
        safety_ratings=_of(list, first.get("safetyRatings")),
        citations=_of(dict, first.get("citationMetadata")),
        grounding=_of(dict, first.get("groundingMetadata")),
        prompt_feedback=_of(dict, response.get("promptFeedback")),
        candidate_extra={k: v for k, v in first.items() if k not in _READ_CANDIDATE},
        response_extra={k: v for k, v in response.items() if k not in _READ_TOP},
        more_candidates=more,
    )


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _of(kind: type, value: Any) -> Any:
    return value if isinstance(value, kind) else None


# The fields of a part that holds a signature and at most an empty text.
_SIGNATURE_ONLY = frozenset({"text", "thought", "thoughtSignature", "thought_signature"})


def _read_part(part: dict[str, Any], out: list[Event]) -> None:
    signature = None
    if "thoughtSignature" in part or "thought_signature" in part:
        sig = part.get("thoughtSignature") or part.get("thought_signature")
        signature = sig if isinstance(sig, str) and sig else None
    if "functionCall" in part or "function_call" in part:
        function_call = part.get("functionCall") or part.get("function_call")
        if isinstance(function_call, dict):
            args = function_call.get("args")
            call_id = function_call.get("id")
            out.append(
                ToolCall(
                    name=str(function_call.get("name") or ""),
                    args=args if isinstance(args, dict) else {},
                    id=call_id if isinstance(call_id, str) and call_id else None,
                    signature=signature,
                )
            )
            return
    data = (
        part.get("inlineData") or part.get("inline_data")
        if "inlineData" in part or "inline_data" in part
        else None
    )
    shown = True  # the part is an event of its own, which a signature on it follows
    if isinstance(data, dict):
        mime = data.get("mimeType") or data.get("mime_type") or "image/png"
        out.append(Image(str(mime), str(data.get("data") or "")))
    else:
        text = part.get("text")
        if text and isinstance(text, str):
            out.append(_thought(text) if part.get("thought") else _text(text))
        elif part.keys() <= _SIGNATURE_ONLY and signature is not None:
            shown = False  # a part of the signature's own
        else:
            out.append(OtherPart(part))  # another kind, or an empty text (a stream's last part)
    # After the text so a signature closes the thought it came with.
    if signature is not None:
        out.append(Signature(signature, not shown, bool(part.get("thought"))))


def usage(meta: Mapping[str, Any]) -> Usage:
    return Usage.of(meta)


def output_tokens(u: Usage) -> int:
    """Candidates + thoughts, unless the counts show candidates already include the thoughts."""
    return u.counts()[2]


def candidate_parts(response: dict[str, Any]) -> tuple[list[dict[str, Any]], str | None]:
    """The parts and finishReason of the first candidate (tolerating missing pieces)."""
    candidates = response.get("candidates")
    if not isinstance(candidates, list) or not candidates or not isinstance(candidates[0], dict):
        return [], None
    cand = candidates[0]
    content = cand.get("content")
    parts = content.get("parts") if isinstance(content, dict) else None
    reason = cand.get("finishReason")
    return (parts if isinstance(parts, list) else []), (reason if isinstance(reason, str) else None)


def prompt_blocked(response: dict[str, Any]) -> bool:
    feedback = response.get("promptFeedback")
    return isinstance(feedback, dict) and bool(feedback.get("blockReason"))


@dataclass(slots=True)
class Outcome:
    """How an upstream answer ended, noted from its events as they pass: every dialect renders
    its closing (stop reason, usage) from these three."""

    finish: str | None = None  # the upstream finishReason, once sent
    usage: Usage | None = None  # the latest (cumulative) usageMetadata
    blocked: bool = False  # the prompt was blocked

    def note(self, event: Event) -> bool:
        """Record ``event`` when it is a finish, usage or block; whether it was one."""
        if isinstance(event, Finish):
            self.finish = event.reason
        elif isinstance(event, Usage):
            self.usage = event
        elif isinstance(event, Blocked):
            self.blocked = True
        else:
            return False
        return True
