"""POST /v1/images/generations on the image models (OpenAI Images API)."""

from __future__ import annotations

import asyncio
import time

from ag2api.errors import InvalidRequest
from ag2api.handlers.base import GeneratingHandler
from ag2api.models.families import is_image_model
from ag2api.translate.gemini.events import read
from ag2api.translate.openai_chat.images import chat_body_for, to_images_response
from ag2api.translate.openai_chat.request import to_gemini


class ImagesHandler(GeneratingHandler):
    async def post(self) -> None:
        cfg, services = self.cfg, self.services
        body = self.parse_json_body(self.request.body)
        chat, n, fmt = chat_body_for(body)
        model = await services.catalog.resolve(cfg, body.get("model"))
        assert self.trace is not None
        self.trace.model, self.trace.stream = model, False
        if not is_image_model(model):
            raise InvalidRequest(f"'{body.get('model')}' is not an image model", param="model")
        request = to_gemini(chat, model=model, thinking=None)
        responses = await asyncio.gather(
            *(
                services.dispatcher.generate(cfg, model, request, image=True, trace=self.trace)
                for _ in range(n)
            )
        )
        answers = [read(response) for response in responses]
        self.write_json(to_images_response(answers, fmt, int(time.time())))
