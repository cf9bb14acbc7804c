"""The fake's benchmark mode: one fixed answer, pre-serialised, served as fast as it can.

The same answer is served three ways: as the Antigravity upstream would (Gemini events in the
v1internal envelope) for the gateway, and directly in OpenAI format at ``/v1/chat/completions``
and in Anthropic format at ``/v1/messages`` — the no-gateway limit the benchmark compares the
gateway against.

By default the v1internal side costs what Google's does: every event carries the running
``usageMetadata`` (Google sends cumulative counts on every chunk), and the answer is gzipped when
the request's ``Accept-Encoding`` allows it — one gzip stream per response, each event
sync-flushed so it leaves at once, as a compressing server does; a non-stream body gzipped whole.
``usage_every_event=False`` / ``gzip_upstream=False`` turn either off. The direct OpenAI answer is
never compressed (the load generator does not speak gzip, and a zero-cost gateway would pass the
bytes on as they are).
"""

from __future__ import annotations

import asyncio
import gzip
import json
import time
import zlib
from typing import Any

from tornado.iostream import StreamClosedError
from tornado.web import RequestHandler

from ag2api.testing import fake_bodies as bodies


class BenchAnswer:
    """``chunks`` text chunks, ``interval`` seconds apart."""

    def __init__(
        self,
        chunks: int = 20,
        interval: float = 0.0,
        model: str = "gemini-2.5-flash",
        *,
        usage_every_event: bool = True,
        gzip_upstream: bool = True,
    ):
        self.interval = interval
        self.gzip = gzip_upstream
        texts = [f"token{i} " for i in range(chunks)]
        usage = _usage(chunks)
        gemini = [
            bodies.response_event(
                [{"text": t}],
                model=model,
                response_id="bench",
                usage=_usage(i + 1) if usage_every_event else None,
            )
            for i, t in enumerate(texts)
        ]
        gemini[-1]["response"]["candidates"][0]["finishReason"] = "STOP"
        gemini[-1]["response"]["usageMetadata"] = usage
        self.upstream_events = [bodies.sse(e) for e in gemini]
        whole = {
            "response": {
                "candidates": [
                    {
                        "content": {"role": "model", "parts": [{"text": "".join(texts)}]},
                        "finishReason": "STOP",
                    }
                ],
                "usageMetadata": usage,
                "modelVersion": model,
                "responseId": "bench",
            },
            "traceId": "bench",
        }
        self.upstream_body = json.dumps(whole).encode()
        self.upstream_body_gzip = gzip.compress(self.upstream_body, mtime=0)
        base = {
            "id": "chatcmpl-bench",
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": model,
        }

        def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
            choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
            return (
                b"data: "
                + json.dumps({**base, "choices": [choice]}, separators=(",", ":")).encode()
                + b"\n\n"
            )

        self.direct_events = [
            chunk({"role": "assistant", "content": ""}) + chunk({"content": texts[0]})
        ] + [chunk({"content": t}) for t in texts[1:]]
        self.direct_events.append(chunk({}, "stop") + b"data: [DONE]\n\n")
        self.direct_body = json.dumps(
            {
                "id": "chatcmpl-bench",
                "object": "chat.completion",
                "created": base["created"],
                "model": model,
                "choices": [
                    {
                        "index": 0,
                        "message": {
                            "role": "assistant",
                            "content": "".join(texts),
                            "refusal": None,
                        },
                        "logprobs": None,
                        "finish_reason": "stop",
                    }
                ],
                "usage": {
                    "prompt_tokens": 8,
                    "completion_tokens": chunks,
                    "total_tokens": 8 + chunks,
                },
            }
        ).encode()

        self.messages_events, self.messages_body = _messages_answer(texts, model, chunks)


def _usage(candidates: int) -> dict[str, int]:
    return {
        "promptTokenCount": 8,
        "candidatesTokenCount": candidates,
        "totalTokenCount": 8 + candidates,
    }


def _messages_answer(texts: list[str], model: str, chunks: int) -> tuple[list[bytes], bytes]:
    """The answer as Anthropic Messages events (one write per upstream event) and body."""

    def event(name: str, data: dict[str, Any]) -> bytes:
        body = json.dumps(data, separators=(",", ":")).encode()
        return b"event: " + name.encode() + b"\ndata: " + body + b"\n\n"

    usage = {"input_tokens": 8, "output_tokens": chunks}
    message: dict[str, Any] = {
        "id": "msg_bench",
        "type": "message",
        "role": "assistant",
        "model": model,
        "stop_reason": None,
        "stop_sequence": None,
    }
    start = {**message, "content": [], "usage": {**usage, "output_tokens": 0}}
    deltas = [
        event(
            "content_block_delta",
            {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": t}},
        )
        for t in texts
    ]
    deltas[0] = (
        event("message_start", {"type": "message_start", "message": start})
        + event(
            "content_block_start",
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "text", "text": ""},
            },
        )
        + deltas[0]
    )
    deltas.append(
        event("content_block_stop", {"type": "content_block_stop", "index": 0})
        + event(
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                "usage": usage,
            },
        )
        + event("message_stop", {"type": "message_stop"})
    )
    whole = {
        **message,
        "content": [{"type": "text", "text": "".join(texts)}],
        "stop_reason": "end_turn",
        "usage": usage,
    }
    return deltas, json.dumps(whole).encode()


def accepts_gzip(accept_encoding: str) -> bool:
    """Whether an ``Accept-Encoding`` value lets the answer be gzipped (RFC 9110 12.5.3)."""
    weights: dict[str, float] = {}
    for item in accept_encoding.split(","):
        name, _, params = item.partition(";")
        weight = 1.0
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key.lower() == "q":
                try:
                    weight = float(value)
                except ValueError:
                    weight = 0.0
        weights[name.strip().lower()] = weight
    for name in ("gzip", "x-gzip"):
        if name in weights:
            return weights[name] > 0
    return weights.get("*", 0.0) > 0


class _BenchHandler(RequestHandler):
    async def relay(self, events: list[bytes], compress: bool = False) -> None:
        answer: BenchAnswer = self.settings["bench"]
        self.set_header("Content-Type", "text/event-stream")
        # One gzip stream per response, sync-flushed per event: each event leaves whole, at once.
        gz = zlib.compressobj(wbits=31) if compress else None
        if gz is not None:
            self.set_header("Content-Encoding", "gzip")
        for i, event in enumerate(events):
            if i and answer.interval:
                await asyncio.sleep(answer.interval)  # the pace of a slow model
            if gz is not None:
                event = gz.compress(event) + gz.flush(zlib.Z_SYNC_FLUSH)
                if i == len(events) - 1:
                    event += gz.flush()  # the gzip trailer
            self.write(event)
            try:
                await self.flush()
            except StreamClosedError:
                return
        self.finish()

    def compress(self) -> bool:
        answer: BenchAnswer = self.settings["bench"]
        return answer.gzip and accepts_gzip(self.request.headers.get("Accept-Encoding", ""))


class BenchGenerateHandler(_BenchHandler):
    def initialize(self, stream: bool) -> None:
        self.stream = stream

    async def post(self) -> None:
        fake = self.settings["fake"]
        if fake.account_for(self.request.headers.get("Authorization", "")) is None:
            self.set_status(401)
            self.finish(json.dumps(bodies.UNAUTHENTICATED))
            return
        answer: BenchAnswer = self.settings["bench"]
        compress = self.compress()
        if self.stream:
            await self.relay(answer.upstream_events, compress)
        else:
            self.set_header("Content-Type", "application/json")
            if compress:
                self.set_header("Content-Encoding", "gzip")
            self.finish(answer.upstream_body_gzip if compress else answer.upstream_body)


class DirectChatHandler(_BenchHandler):
    """The same answer straight in OpenAI format: what a gateway with zero cost would do."""

    async def post(self) -> None:
        answer: BenchAnswer = self.settings["bench"]
        if b'"stream":true' in self.request.body.replace(b" ", b""):
            await self.relay(answer.direct_events)
        else:
            self.set_header("Content-Type", "application/json")
            self.finish(answer.direct_body)


class DirectMessagesHandler(_BenchHandler):
    """The same answer straight in Anthropic Messages format."""

    async def post(self) -> None:
        answer: BenchAnswer = self.settings["bench"]
        if b'"stream":true' in self.request.body.replace(b" ", b""):
            await self.relay(answer.messages_events)
        else:
            self.set_header("Content-Type", "application/json")
            self.finish(answer.messages_body)
