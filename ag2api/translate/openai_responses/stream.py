"""Typed Gemini events → Responses stream events, one machine per answer (docs/clients/codex.md,
"Stream event sequence").

``response.created`` and ``response.in_progress`` first; then each output item as
``output_item.added`` … ``output_item.done`` with the complete item (Codex builds its history
only from ``done``), ``output_index`` in arrival order; reasoning as ``reasoning_summary_*``
events (``summary_index`` 0); calls as ``function_call`` or ``custom_tool_call`` items; and always
one terminal ``response.completed`` / ``response.incomplete`` / ``response.failed`` carrying every
finished item and the usage. ``sequence_number`` counts every event. The non-stream answer runs
the same machine and returns :attr:`ResponsesStream.final`, so the two cannot disagree.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from ag2api.models.families import is_claude
from ag2api.translate.dialect import SseEvent
from ag2api.translate.gemini.events import (
    CONTENT_FILTER_REASONS,
    Event,
    Image,
    Outcome,
    Signature,
    Text,
    Thought,
    ToolCall,
    Usage,
)
from ag2api.translate.openai_responses import carrier, compaction
from ag2api.translate.openai_responses.render import new_id, usage_object
from ag2api.translate.openai_responses.request import RequestInfo
from ag2api.translate.openai_responses.tools import CUSTOM_PARAM
from ag2api.translate.typed_args import restore_args, restore_json_text


@dataclass
class _Open:
    """The output item being streamed: a reasoning item or an assistant message."""

    kind: str  # "reasoning" | "message"
    id: str
    index: int
    text: str = ""
    part_open: bool = False  # reasoning: its summary part was announced
    carried: carrier.Carried = field(default_factory=carrier.Carried)


class ResponsesStream:
    """``feed(events)`` → events to send now; ``finish()`` / ``fail(error)`` → the closing ones."""

    __slots__ = (
        "_claude",
        "_end",
        "_info",
        "_open",
        "_output",
        "_seq",
        "_shell",
        "final",
        "started",
    )

    def __init__(self, shell: dict[str, Any], info: RequestInfo) -> None:
        self._shell = shell  # the response object's fixed fields (id, model, echoed request)
        self._info = info
        self._claude = is_claude(info.model)
        self._seq = 0
        self._output: list[dict[str, Any]] = []  # finished items
        self._open: _Open | None = None
        self._end = Outcome()
        self.started = False
        self.final: dict[str, Any] | None = None  # the response once finished (or failed)

    @property
    def usage(self) -> Usage | None:
        return self._end.usage

    # -- the public steps ----------------------------------------------------------------

    def feed(self, events: list[Event]) -> list[SseEvent]:
        out: list[SseEvent] = []
        self._begin(out)
        for event in events:
            if isinstance(event, Thought):
                self._reasoning(out).text += event.text
                self._summary_delta(out, event.text)
            elif isinstance(event, Text):
                self._text(out, event.text)
            elif isinstance(event, ToolCall):
                self._call(out, event)
            elif isinstance(event, Signature):
                self._signature(out, event.value)
            elif isinstance(event, Image):
                self._text(out, f"![image](data:{event.mime_type};base64,{event.data})")
            else:
                self._end.note(event)
        return out

    def finish(self) -> list[SseEvent]:
        out: list[SseEvent] = []
        self._begin(out)
        reason = None
        if self._end.blocked or self._end.finish in CONTENT_FILTER_REASONS:
            reason = "content_filter"
        elif self._end.finish == "MAX_TOKENS":
            reason = "max_output_tokens"
        self._close(out, "incomplete" if reason else "completed")
        if reason is None:
            self.final = self._response("completed")
            self._emit(out, "response.completed", response=self.final)
        else:
            self.final = self._response("incomplete", incomplete_details={"reason": reason})
            self._emit(out, "response.incomplete", response=self.final)
        return out

    def fail(self, error: dict[str, Any]) -> list[SseEvent]:
        """``response.failed`` with ``error`` ({code, message}); the finished items stay."""
        out: list[SseEvent] = []
        self._begin(out)
        self._open = None  # an item cut short is not reported as done
        self.final = self._response("failed", error=error)
        self._emit(out, "response.failed", response=self.final)
        return out

    # -- framing ---------------------------------------------------------------------------

    def _emit(self, out: list[SseEvent], kind: str, **fields: Any) -> None:
        out.append((kind, {"type": kind, **fields, "sequence_number": self._seq}))
        self._seq += 1

    def _begin(self, out: list[SseEvent]) -> None:
        if not self.started:
            self.started = True
            response = {**self._shell, "status": "in_progress", "output": []}
            self._emit(out, "response.created", response=response)
            self._emit(out, "response.in_progress", response=response)

    def _response(self, status: str, **extra: Any) -> dict[str, Any]:
        return {
            **self._shell,
            "status": status,
            "output": list(self._output),
            "usage": usage_object(self._end.usage),
            **extra,
        }

    def _start(self, out: list[SseEvent], item: dict[str, Any]) -> int:
        index = len(self._output)  # the open item, if any, was closed first
        self._emit(out, "response.output_item.added", output_index=index, item=item)
        return index

    def _done(self, out: list[SseEvent], index: int, item: dict[str, Any]) -> None:
        self._output.append(item)
        self._emit(out, "response.output_item.done", output_index=index, item=item)

    def _close(self, out: list[SseEvent], status: str = "completed") -> None:
        current, self._open = self._open, None
        if current is None:
            return
        if current.kind == "reasoning":
            self._close_reasoning(out, current)
        else:
            self._close_message(out, current, status)

    # -- reasoning -------------------------------------------------------------------------

    def _reasoning(self, out: list[SseEvent]) -> _Open:
        if self._open is None or self._open.kind != "reasoning":
            self._close(out)
            rs = new_id("rs")
            index = self._start(out, {"id": rs, "type": "reasoning", "summary": []})
            self._open = _Open("reasoning", rs, index)
        return self._open

    def _summary_delta(self, out: list[SseEvent], delta: str) -> None:
        current = self._open
        assert current is not None
        where = {"item_id": current.id, "output_index": current.index, "summary_index": 0}
        if not current.part_open:
            current.part_open = True
            part = {"type": "summary_text", "text": ""}
            self._emit(out, "response.reasoning_summary_part.added", **where, part=part)
        self._emit(out, "response.reasoning_summary_text.delta", **where, delta=delta)

    def _signature(self, out: list[SseEvent], value: str) -> None:
        # Only Claude's signed thinking needs to come back; a Gemini text-part signature does not.
        if not self._claude:
            return
        current = self._reasoning(out)
        current.carried.signature = value

    def _close_reasoning(self, out: list[SseEvent], current: _Open) -> None:
        summary = []
        if current.part_open:
            where = {"item_id": current.id, "output_index": current.index, "summary_index": 0}
            text = current.text
            self._emit(out, "response.reasoning_summary_text.done", **where, text=text)
            part = {"type": "summary_text", "text": text}
            self._emit(out, "response.reasoning_summary_part.done", **where, part=part)
            summary = [part]
        carried = current.carried
        if self._claude and carried.signature is not None:
            carried.thinking = current.text
        item = {
            "id": current.id,
            "type": "reasoning",
            "summary": summary,
            "encrypted_content": None
            if carried.empty()
            else carrier.pack(self._info.model, carried),
        }
        self._done(out, current.index, item)

    # -- messages --------------------------------------------------------------------------

    def _text(self, out: list[SseEvent], text: str) -> None:
        current = self._open
        if current is None or current.kind != "message":
            self._close(out)
            msg = new_id("msg")
            item = {
                "id": msg,
                "type": "message",
                "role": "assistant",
                "status": "in_progress",
                "content": [],
            }
            current = self._open = _Open("message", msg, self._start(out, item))
            part = {"type": "output_text", "text": "", "annotations": []}
            self._emit(
                out,
                "response.content_part.added",
                item_id=msg,
                output_index=current.index,
                content_index=0,
                part=part,
            )
        current.text += text
        self._emit(
            out,
            "response.output_text.delta",
            item_id=current.id,
            output_index=current.index,
            content_index=0,
            delta=text,
            logprobs=[],
        )

    def _close_message(self, out: list[SseEvent], current: _Open, status: str) -> None:
        text = restore_json_text(self._info.text_fix, current.text)
        where = {"item_id": current.id, "output_index": current.index, "content_index": 0}
        self._emit(out, "response.output_text.done", **where, text=text, logprobs=[])
        part = {"type": "output_text", "text": text, "annotations": []}
        self._emit(out, "response.content_part.done", **where, part=part)
        item = {
            "id": current.id,
            "type": "message",
            "role": "assistant",
            "status": status,
            "content": [{**part, "logprobs": []}],
        }
        self._done(out, current.index, item)

    # -- calls -----------------------------------------------------------------------------

    def _call(self, out: list[SseEvent], tool_call: ToolCall) -> None:
        call_id = tool_call.id or new_id("call")
        current = self._open
        if self._claude:
            # Claude may sign the tool call rather than a part of its own.
            if current and current.kind == "reasoning" and current.carried.signature is None:
                current.carried.signature = tool_call.signature
        elif tool_call.signature:
            # The tool call's thoughtSignature rides in a reasoning item just before it (a carrier
            # with no summary when no thought text is open).
            self._reasoning(out).carried.calls[call_id] = tool_call.signature
        self._close(out)
        tools = self._info.tools
        ref = tools.ref(tool_call.name)
        args = restore_args(tools.fixes, tool_call.name, tool_call.args)
        if ref.custom:
            raw = args.get(CUSTOM_PARAM) if isinstance(args, dict) else None
            text = raw if isinstance(raw, str) else json.dumps(args, ensure_ascii=False)
            self._custom_call(out, call_id, ref.name, text, ref.namespace)
            return
        arguments = json.dumps(args, ensure_ascii=False)
        fc = new_id("fc")
        item: dict[str, Any] = {
            "id": fc,
            "type": "function_call",
            "status": "in_progress",
            "call_id": call_id,
            "name": ref.name,
            "arguments": "",
        }
        if ref.namespace:
            item["namespace"] = ref.namespace
        index = self._start(out, item)
        where = {"item_id": fc, "output_index": index}
        self._emit(out, "response.function_call_arguments.delta", **where, delta=arguments)
        self._emit(
            out,
            "response.function_call_arguments.done",
            **where,
            name=ref.name,
            arguments=arguments,
        )
        self._done(out, index, {**item, "status": "completed", "arguments": arguments})

    def _custom_call(
        self, out: list[SseEvent], call_id: str, name: str, text: str, namespace: str | None
    ) -> None:
        ctc = new_id("ctc")
        item: dict[str, Any] = {
            "id": ctc,
            "type": "custom_tool_call",
            "call_id": call_id,
            "name": name,
            "input": "",
        }
        if namespace:
            item["namespace"] = namespace
        index = self._start(out, item)
        where = {"item_id": ctc, "output_index": index}
        self._emit(out, "response.custom_tool_call_input.delta", **where, delta=text)
        self._emit(out, "response.custom_tool_call_input.done", **where, input=text)
        self._done(out, index, {**item, "input": text})


class CompactionStream(ResponsesStream):
    """The answer to Codex's compaction request (``compaction.py``): the model's text (thoughts
    and anything else left out) becomes one ``compaction`` item, sent whole at the end."""

    __slots__ = ("_summary",)

    def __init__(self, shell: dict[str, Any], info: RequestInfo) -> None:
        super().__init__(shell, info)
        self._summary: list[str] = []

    def feed(self, events: list[Event]) -> list[SseEvent]:
        out: list[SseEvent] = []
        self._begin(out)
        for event in events:
            if isinstance(event, Text):
                self._summary.append(event.text)
            else:
                self._end.note(event)  # usage, finish reason, block verdict; the rest is dropped
        return out

    def finish(self) -> list[SseEvent]:
        summary = "".join(self._summary).strip()
        if not summary or self._end.blocked or self._end.finish in CONTENT_FILTER_REASONS:
            return self.fail({"code": "server_error", "message": compaction.NO_SUMMARY})
        out: list[SseEvent] = []
        self._begin(out)
        packed = compaction.pack(summary)
        item = {"id": new_id("cmp"), "type": compaction.ITEM, "encrypted_content": packed}
        self._done(out, self._start(out, item), item)
        self.final = self._response("completed")
        self._emit(out, "response.completed", response=self.final)
        return out
