"""Small helpers shared by the end-to-end tests."""

from __future__ import annotations

from typing import Any

import openai

MSG = [{"role": "user", "content": "hi"}]


async def chat_text(
    client: openai.AsyncOpenAI,
    stream: bool = False,
    model: str = "gemini-2.5-flash",
    messages: list[dict[str, Any]] = MSG,
) -> str:
    """The answer's content, through a streamed or a plain request."""
    if stream:
        chunks = [
            c
            async for c in await client.chat.completions.create(
                model=model, messages=messages, stream=True
            )
        ]  # type: ignore[arg-type]
        return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    done = await client.chat.completions.create(model=model, messages=messages)  # type: ignore[arg-type]
    return done.choices[0].message.content or ""
