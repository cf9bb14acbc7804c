"""LangChain's ChatOpenAI as a second real client: tools and structured output."""

from __future__ import annotations

from typing import Any

from langchain_core.messages import AIMessageChunk
from langchain_openai import ChatOpenAI
from pydantic import BaseModel, Field

from tests.support.clients import API_KEY


class Address(BaseModel):
    city: str
    zip_code: str | None = None


class Person(BaseModel):
    """A person and where they live."""

    name: str
    age: int = Field(description="years")
    home: Address
    tags: list[str]


def get_weather(city: str) -> str:
    """Current weather for a city."""
    return "sunny"


def chat(base_url: str, **kw: Any) -> ChatOpenAI:
    return ChatOpenAI(
        base_url=base_url + "/v1", api_key=API_KEY, model="gemini-2.5-flash", max_retries=0, **kw
    )


async def test_bind_tools_invoke_and_stream(base_url: str) -> None:
    llm = chat(base_url).bind_tools([get_weather])
    message = await llm.ainvoke("use get_weather for Paris")
    assert [(c["name"], c["args"]) for c in message.tool_calls] == [
        ("get_weather", {"city": "city-value"})
    ]
    assert message.tool_calls[0]["id"]
    total: AIMessageChunk | None = None
    async for chunk in llm.astream("parallel get_weather"):
        total = chunk if total is None else total + chunk
    assert total is not None
    assert [c["name"] for c in total.tool_calls] == ["get_weather"]
    assert total.invalid_tool_calls == []


async def test_structured_output_on_a_nested_schema(base_url: str) -> None:
    llm = chat(base_url).with_structured_output(Person)
    person = await llm.ainvoke("describe someone")
    assert isinstance(person, Person)
    assert person.home.city == "city-value" and person.age == 1
    streamed = [p async for p in llm.astream("describe someone")]
    assert isinstance(streamed[-1], Person)
