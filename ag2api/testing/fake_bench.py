"""The fake's benchmark mode: one fixed answer, pre-serialised, served as fast as it can.

The same answer is served two ways: as the Antigravity upstream would (Gemini events in the
v1internal envelope) for the gateway, and directly in OpenAI format at ``/v1/chat/completions``
— the no-gateway limit the benchmark compares the gateway against.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from tornado.iostream import StreamClosedError
from tornado.web import RequestHandler

from ag2api.testing import fake_bodies as bodies


class BenchAnswer:
    """``chunks`` text chunks, ``interval`` seconds apart."""

    def __init__(self, chunks: int = 20, interval: float = 0.0, model: str = "gemini-2.5-flash"):
        self.interval = interval
        texts = [f"token{i} " for i in range(chunks)]
        usage = {
            "promptTokenCount": 8,
            "candidatesTokenCount": chunks,
            "totalTokenCount": 8 + chunks,
        }
        gemini = [
            bodies.response_event([{"text": t}], model=model, response_id="bench") for t in texts
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


class _BenchHandler(RequestHandler):
    async def relay(self, events: list[bytes]) -> None:
        answer: BenchAnswer = self.settings["bench"]
        self.set_header("Content-Type", "text/event-stream")
        for i, event in enumerate(events):
            if i and answer.interval:
                await asyncio.sleep(answer.interval)  # the pace of a slow model
            self.write(event)
            try:
                await self.flush()
            except StreamClosedError:
                return
        self.finish()


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
        if self.stream:
            await self.relay(answer.upstream_events)
        else:
            self.set_header("Content-Type", "application/json")
            self.finish(answer.upstream_body)


class DirectChatHandler(_BenchHandler):
    """The same answer straight in OpenAI format: what a gateway with zero cost would do."""

    async def post(self) -> None:
        answer: BenchAnswer = self.settings["bench"]
        if b'"stream":true' in self.request.body.replace(b" ", b""):
            await self.relay(answer.direct_events)
        else:
            self.set_header("Content-Type", "application/json")
            self.finish(answer.direct_body)
