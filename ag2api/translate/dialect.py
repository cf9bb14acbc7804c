"""What a client dialect is: one entry of the table (``translate.DIALECTS``) the handlers run.

A dialect turns a client body into a Gemini ``generateContent`` request and Gemini responses back
into the client's answer, stream events and errors; it also says where its routes are: the
generation route, its model list and token count, and its side routes. Everything here is pure
(dicts and bytes in, dicts and bytes out); the handlers (``ag2api.handlers``) do the I/O and
build their routes from the table, the same way for all.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from ag2api.errors import GatewayError, InvalidRequest
from ag2api.models.entries import ModelEntry
from ag2api.translate.conversation import FirstTurn
from ag2api.translate.gemini.events import Reply, Usage
from ag2api.translate.gemini.events import usage as read_usage
from ag2api.translate.signatures import ThinkingRecord

# One server-sent event: (event name, or None for a bare ``data:`` line; JSON payload).
SseEvent = tuple[str | None, dict[str, Any]]
SignatureLookup = Callable[[str], ThinkingRecord | None]


@dataclass(frozen=True)
class Framing:
    """How a streamed answer goes on the wire: server-sent events (every dialect), or one JSON
    array whose elements are written as they come (the Gemini API without ``?alt=sse``)."""

    content_type: str
    sse: bool
    opening: bytes = b""  # before the first event
    separator: bytes = b""  # between two events
    closing: bytes = b""  # after the last event, before the dialect's terminator
    keepalive: bytes | None = None  # instead of the dialect's keepalive (JSON: whitespace)


SSE = Framing("text/event-stream; charset=utf-8", sse=True)


@dataclass(frozen=True)
class RouteInfo:
    """What the route and query add to the body (the Gemini API puts the model in the path)."""

    default_stream: bool  # the gateway's `defaults.stream`
    path_args: tuple[str, ...] = ()
    query: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class RemoteImage:
    """An image the client gave by URL: the gateway fetches it and ``place``s the data URL."""

    where: str  # the field, for error messages
    url: str
    place: Callable[[str], None]


@dataclass(frozen=True)
class ClientRequest:
    """What the handler needs from a body before the model is resolved."""

    model: Any  # as the client sent it (normalised by the dialect); the catalog validates it
    stream: bool
    framing: Framing = SSE


@dataclass(frozen=True)
class TranslationContext:
    """What translation needs beyond the body: the resolved model and the gateway's defaults."""

    name: str  # what the client asked for: echoed in the answer
    model: str  # the upstream model id
    thinking: dict[str, Any] | None  # the model rule's thinkingConfig (models.policies), if any
    signatures: SignatureLookup | None  # Claude thinking blocks the gateway issued (OpenAI path)
    created: int  # unix time, for answers that carry one


class Answer(Protocol):
    """Per request: upstream replies (out of the envelope, read into typed events) → the
    client's dialect."""

    def feed(self, reply: Reply) -> list[SseEvent]:
        """Events to send now for one upstream stream chunk."""

    def finish(self) -> list[SseEvent]:
        """The closing events once the upstream stream ended normally."""

    def whole(self, reply: Reply) -> dict[str, Any]:
        """The non-stream answer body."""

    def usage(self) -> dict[str, Any]:
        """OpenAI-shaped usage of what was seen (for the request log, metrics and statistics)."""

    def thinking_records(self) -> dict[str, ThinkingRecord]:
        """Claude thinking blocks to remember under the ids handed out (empty when stateless)."""


@dataclass(frozen=True)
class Translation:
    request: dict[str, Any]  # plain Gemini generateContent request
    image: bool  # an image model (the envelope says so)
    answer: Answer


@dataclass(frozen=True)
class Memory:
    """Conversation state a dialect keeps on the gateway (the Responses API's
    ``previous_response_id`` and ``store``). Pure like the rest: the handler does the store I/O
    (``Services.responses``) around these."""

    recall: Callable[[dict[str, Any]], str | None]  # the stored id the body continues, if any
    # The body with the recalled record merged in (called with None when nothing was recalled
    # or the id is unknown: the dialect decides whether that is an error).
    expand: Callable[[dict[str, Any], dict[str, Any] | None], dict[str, Any]]
    # (id, record) to store once the answer is complete, or None (``store: false``).
    keep: Callable[[dict[str, Any], Answer], tuple[str, dict[str, Any]] | None]


# A request's headers and query arguments, for a dialect to recognise its clients by.
Headers = Mapping[str, str]
Query = Mapping[str, Any]


@dataclass(frozen=True)
class ModelList:
    """Where a dialect lists the models and how a model looks there.

    The list is served at each of ``paths``, one model at ``<path>/<id>``. Dialects may share a
    path (``/v1/models`` is OpenAI's, Anthropic's and the Gemini API's): there a request goes to
    the first dialect, in table order, whose ``claims`` accepts it, else to the one without
    ``claims`` — so a request is told apart by what it carries, whatever order the routes are in.
    """

    paths: tuple[str, ...]
    render_list: Callable[[Sequence[ModelEntry], int], dict[str, Any]]  # (entries, created)
    render_model: Callable[[ModelEntry, int], dict[str, Any]]
    model_id: Callable[[str], str]  # the id from the path segment
    claims: Callable[[Headers, Query], bool] | None = None


@dataclass(frozen=True)
class TokenCount:
    """A dialect's token-count route: translated exactly as generation, counted upstream."""

    path: str  # a pattern; its groups are the route's path arguments
    model: Callable[[dict[str, Any], tuple[str, ...]], Any]  # what the client named (body, path)
    # The upstream countTokens body (``{"request": {...}}``) for the client's body, on a model.
    request: Callable[[dict[str, Any], str], dict[str, Any]]
    answer: Callable[[int], dict[str, Any]]  # the client's answer for a count


@dataclass(frozen=True)
class Errors:
    """How a dialect words a gateway error (its ``errors.py``)."""

    status: Callable[[GatewayError], int]  # the HTTP status (Anthropic's 529 …)
    body: Callable[[GatewayError], dict[str, Any]]  # the JSON body of an error answer
    event: Callable[[GatewayError], SseEvent]  # the event for an error after the first byte


class Serves(enum.Enum):
    """What a side route does; the handlers map each to the handler that does it."""

    GENERATE = "generate"  # generation again, with a variant of the dialect (``SideRoute.dialect``)
    IMAGES = "images"  # the image models' own API
    STORED_RESPONSE = "stored_response"  # GET/DELETE a response the gateway kept
    STORED_INPUT_ITEMS = "stored_input_items"  # the input items of a kept response
    PROBE = "probe"  # a client's connectivity check: 200, no key needed
    DISCARD = "discard"  # accepted and dropped (a client's telemetry)


@dataclass(frozen=True)
class SideRoute:
    path: str  # a pattern; its groups are the route's path arguments
    serves: Serves
    dialect: Dialect | None = None  # GENERATE: the variant it runs (None: the entry itself)


@dataclass(frozen=True)
class Dialect:
    """One client API: where it is served, how to read it, translate it and speak its errors
    and stream framing."""

    name: str  # route label in metrics and statistics
    path: str  # the generation route (a pattern; its groups go to ``read`` as path arguments)
    read: Callable[[dict[str, Any], RouteInfo], ClientRequest]
    remote_images: Callable[[dict[str, Any]], list[RemoteImage]]  # URLs to fetch before translate
    translate: Callable[[dict[str, Any], TranslationContext], Translation]
    errors: Errors  # how it words an error (``errors.py``)
    keepalive: bytes  # written after ``server.keepalive`` seconds of silence
    terminator: bytes | None  # written after the closing events (OpenAI's [DONE])
    # Whether a keepalive may send the 200 headers before the first upstream event arrives (no
    # failover after that). Claude Code waits 5 minutes for a first byte, so Anthropic need not.
    commit_on_keepalive: bool = True
    # The API key may come as ``?key=`` (the Gemini API); it is taken out of the request then.
    key_in_query: bool = False
    # An error after the first byte rendered by the answer itself, which knows the stream's state
    # (the Responses API's ``response.failed`` carries the response id and sequence numbers);
    # None: ``errors.event``.
    stream_error: Callable[[Answer, GatewayError], list[SseEvent]] | None = None
    memory: Memory | None = None  # server-side conversation state; None: stateless
    models: ModelList | None = None  # its model list; None: it has none of its own
    count: TokenCount | None = None  # its token-count route, if it has one
    routes: tuple[SideRoute, ...] = ()  # its other routes
    # Paths under this prefix that match no route get this dialect's 404 (``/v1beta/``).
    namespace: str | None = None
    # The system prompt and first user message of a body: the conversation's id when the client
    # sends none of its own (``translate.conversation``); None: such requests have none.
    first_turn: FirstTurn | None = None


def stream_flag(body: dict[str, Any], default: bool) -> bool:
    """The body's ``stream``, ``default`` when absent or null; anything but a boolean is a 400."""
    stream = body.get("stream")
    if stream is None:
        return default
    if not isinstance(stream, bool):
        raise InvalidRequest("'stream' must be true or false", param="stream")
    return stream


def encode_event(event: SseEvent, dumps: Callable[[Any], bytes]) -> bytes:
    name, payload = event
    if name is None:
        return b"data: " + dumps(payload) + b"\n\n"
    return b"event: " + name.encode() + b"\ndata: " + dumps(payload) + b"\n\n"


def openai_usage(meta: Usage | Mapping[str, Any] | None) -> dict[str, Any]:
    """Usage in OpenAI's chat shape (from ``usageMetadata`` or its :class:`Usage` event): what
    Chat Completions answers, and what :meth:`Answer.usage` gives the request log, the metrics
    and the statistics for every dialect.

    ``completion_tokens`` includes the thinking tokens, as OpenAI's does for reasoning models, and
    ``completion_tokens_details.reasoning_tokens`` says how many of them were thoughts. When the
    upstream's counts show that ``candidatesTokenCount`` already includes the thoughts
    (prompt + candidates == total), they are not added twice. ``total = prompt + completion``.
    """
    u = meta if isinstance(meta, Usage) else read_usage(dict(meta or {}))
    prompt, cached, completion, thoughts = u.counts()
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": cached},
        "completion_tokens_details": {"reasoning_tokens": thoughts},
    }
