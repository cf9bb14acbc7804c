"""POST /v1/images/generations on the image models (OpenAI Images API): a side route of the chat
entry, through the key's admission like any generation (allow-list, limits, charged tokens), and
stopped upstream as soon as the client leaves."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Coroutine, Iterable
from typing import Any, TypeVar

from ag2api.errors import InvalidRequest
from ag2api.handlers.generating import GeneratingHandler
from ag2api.models.families import is_image_model
from ag2api.translate.gemini.events import read
from ag2api.translate.openai_chat.images import chat_body_for, images_usage, to_images_response
from ag2api.translate.openai_chat.request import to_gemini

T = TypeVar("T")


class ImagesHandler(GeneratingHandler):
    records_usage = True  # its requests go into the usage statistics

    async def post(self) -> None:
        cfg, services, trace = self.cfg, self.services, self.trace
        assert trace is not None
        body = self.parse_json_body(self.request.body)
        chat, n, fmt = chat_body_for(body)
        asked = body.get("model")
        model = await services.catalog.resolve(cfg, asked)
        trace.model, trace.stream = model, False
        if not is_image_model(model):
            raise InvalidRequest(f"'{asked}' is not an image model", param="model")
        request = to_gemini(chat, model=model, thinking=None)
        async with self.admitted(model, asked=asked):
            calls = (
                services.dispatcher.generate(cfg, model, request, image=True, trace=trace)
                for _ in range(n)
            )
            responses = await self.until_client_leaves(all_of(calls))
            if responses is None:
                return  # the client left: every upstream call was stopped
            answers = [read(response) for response in responses]
            trace.add_usage(images_usage(answers))
            images = to_images_response(answers, fmt, int(time.time()))
            await self.key_admission.settle()  # charged before the client's next request
        self.write_json(images)


async def all_of(calls: Iterable[Coroutine[Any, Any, T]]) -> list[T]:
    """Every call's result; the first failure (or a cancel) stops the others at once."""
    try:
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(call) for call in calls]
    except BaseExceptionGroup as failed:
        raise failed.exceptions[0] from None
    return [task.result() for task in tasks]
