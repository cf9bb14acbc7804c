"""openai-agents with its default model class (``OpenAIResponsesModel``: ``/v1/responses``)
running a function tool on Gemini 3, whose thought signature must come back."""

from __future__ import annotations

import openai
from agents import Agent, RunConfig, Runner, function_tool
from agents.models.openai_provider import OpenAIProvider

from ag2api.testing.fake_upstream import FakeUpstream


@function_tool
def get_weather(city: str) -> str:
    """Current weather for a city."""
    return f"Sunny in {city}"


async def test_agent_runs_a_tool_over_responses(
    client: openai.AsyncOpenAI, fake: FakeUpstream
) -> None:
    agent = Agent(name="forecaster", instructions="Answer briefly.", tools=[get_weather])
    config = RunConfig(
        model="gemini-3-pro-high",
        model_provider=OpenAIProvider(openai_client=client, use_responses=True),
        tracing_disabled=True,  # no exporter: nothing leaves loopback
    )
    result = await Runner.run(agent, "please call get_weather", run_config=config)
    assert result.final_output == 'The tools said: [{"result":"Sunny in city-value"}]'
    requests = fake.generate_requests()
    assert [r.path.split(":")[-1].split("?")[0] for r in requests] == ["generateContent"] * 2
    replayed = [
        p
        for turn in requests[1].body["request"]["contents"]
        for p in turn["parts"]
        if "functionCall" in p
    ]
    assert replayed[0]["thoughtSignature"] in fake.issued_signatures  # not the sentinel
