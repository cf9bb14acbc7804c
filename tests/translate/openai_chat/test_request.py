"""OpenAI chat request → Gemini request (pure)."""

from __future__ import annotations

from typing import Any

import pytest

from ag2api.errors import InvalidRequest
from ag2api.translate.openai_chat.request import to_gemini

GEMINI_THINKING = {"includeThoughts": True, "thinkingBudget": -1}


def tr(
    body: dict[str, Any], model: str = "gemini-2.5-flash", thinking: dict[str, Any] | None = None
) -> dict[str, Any]:
    return to_gemini(body, model=model, thinking=thinking)


def test_system_and_developer_become_system_instruction() -> None:
    out = tr(
        {
            "messages": [
                {"role": "system", "content": "be brief"},
                {"role": "developer", "content": [{"type": "text", "text": "use English"}]},
                {"role": "user", "content": "hi"},
            ]
        }
    )
    assert out["systemInstruction"] == {
        "role": "user",
        "parts": [{"text": "be brief"}, {"text": "use English"}],
    }
    assert out["contents"] == [{"role": "user", "parts": [{"text": "hi"}]}]


def test_roles_map_and_consecutive_turns_merge() -> None:
    out = tr(
        {
            "messages": [
                {"role": "user", "content": "a"},
                {
                    "role": "user",
                    "content": [{"type": "text", "text": "b"}, {"type": "text", "text": ""}],
                },
                {"role": "assistant", "content": "c"},
                {
                    "role": "assistant",
                    "content": [{"type": "text", "text": "d"}],
                    "reasoning_content": "secret thoughts",
                },
                {"role": "user", "content": "e"},
            ]
        }
    )
    assert out["contents"] == [
        {"role": "user", "parts": [{"text": "a"}, {"text": "b"}]},
        {"role": "model", "parts": [{"text": "c"}, {"text": "d"}]},
        {"role": "user", "parts": [{"text": "e"}]},
    ]
    assert "secret thoughts" not in str(out)


def test_history_starting_with_assistant_gets_a_user_turn_for_gemini() -> None:
    out = tr(
        {"messages": [{"role": "assistant", "content": "x"}, {"role": "user", "content": "y"}]}
    )
    assert out["contents"][0] == {"role": "user", "parts": [{"text": " "}]}


def test_generation_parameters() -> None:
    out = tr(
        {
            "messages": [{"role": "user", "content": "x"}],
            "temperature": 0.2,
            "top_p": 0.9,
            "max_tokens": 100,
            "max_completion_tokens": 200,
            "stop": "END",
            "seed": 7,
            "presence_penalty": 0.5,
            "frequency_penalty": -0.5,
        }
    )
    assert out["generationConfig"] == {
        "temperature": 0.2,
        "topP": 0.9,
        "maxOutputTokens": 200,
        "stopSequences": ["END"],
        "seed": 7,
        "presencePenalty": 0.5,
        "frequencyPenalty": -0.5,
    }


def test_stop_list_and_policy_thinking() -> None:
    out = tr(
        {"messages": [{"role": "user", "content": "x"}], "stop": ["a", "b"]},
        thinking=GEMINI_THINKING,
    )
    assert out["generationConfig"] == {
        "stopSequences": ["a", "b"],
        "thinkingConfig": GEMINI_THINKING,
    }


def test_claude_thinking_keeps_max_output_above_budget() -> None:
    thinking = {"includeThoughts": True, "thinkingBudget": 1024}
    msgs = [{"role": "user", "content": "x"}]
    out = tr({"messages": msgs}, "claude-sonnet-4-5-thinking", thinking)
    assert out["generationConfig"] == {"maxOutputTokens": 64000, "thinkingConfig": thinking}
    out = tr(
        {"messages": msgs, "max_tokens": 2000},
        "claude-sonnet-4-5-thinking",
        {"includeThoughts": True, "thinkingBudget": 4096},
    )
    assert out["generationConfig"]["thinkingConfig"]["thinkingBudget"] == 1999
    out = tr({"messages": msgs, "max_tokens": 500}, "claude-sonnet-4-5-thinking", thinking)
    assert out["generationConfig"] == {"maxOutputTokens": 500}


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"messages": []}, "messages"),
        ({"messages": "hi"}, "messages"),
        ({"messages": [{"role": "robot", "content": "x"}]}, "messages"),
        ({"messages": [{"role": "user", "content": 5}]}, "messages"),
        ({"messages": [{"role": "user", "content": "x"}], "temperature": 3}, "temperature"),
        ({"messages": [{"role": "user", "content": "x"}], "temperature": "hot"}, "temperature"),
        ({"messages": [{"role": "user", "content": "x"}], "top_p": 1.5}, "top_p"),
        ({"messages": [{"role": "user", "content": "x"}], "max_tokens": 0}, "max_tokens"),
        ({"messages": [{"role": "user", "content": "x"}], "n": 2}, "n"),
        (
            {
                "messages": [{"role": "user", "content": "x"}],
                "stop": ["1", "2", "3", "4", "5", "6"],
            },
            "stop",
        ),
        ({"messages": [{"role": "user", "content": "x"}], "stop": 5}, "stop"),
        ({"messages": [{"role": "tool", "tool_call_id": "nope", "content": "x"}]}, "messages"),
        (
            {
                "messages": [
                    {
                        "role": "user",
                        "content": [
                            {"type": "image_url", "image_url": {"url": "data:image/png;base64"}}
                        ],
                    }
                ]
            },
            "messages",
        ),
        (
            {
                "messages": [{"role": "user", "content": "x"}],
                "tool_choice": {"type": "function", "function": {"name": "f"}},
            },
            "tool_choice",
        ),
    ],
)
def test_bad_fields_name_the_param(body: dict[str, Any], param: str) -> None:
    with pytest.raises(InvalidRequest) as info:
        tr(body)
    assert info.value.param == param


def test_unknown_fields_are_ignored() -> None:
    out = tr(
        {
            "messages": [{"role": "user", "content": "x"}],
            "user": "u",
            "metadata": {"a": 1},
            "foo": 1,
            "parallel_tool_calls": False,
            "n": 1,
        }
    )
    assert set(out) == {"contents", "sessionId"}


def test_data_url_image_becomes_inline_data() -> None:
    out = tr(
        {
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "what is this?"},
                        {
                            "type": "image_url",
                            "image_url": {
                                "url": "data:image/png;base64,iVBORw0KGgo=",
                                "detail": "high",
                            },
                        },
                    ],
                }
            ]
        }
    )
    assert out["contents"][0]["parts"][1] == {
        "inlineData": {"mimeType": "image/png", "data": "iVBORw0KGgo="}
    }


def test_tool_round_trip_history() -> None:
    out = tr(
        {
            "messages": [
                {"role": "user", "content": "weather?"},
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": "call_1",
                            "type": "function",
                            "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
                        },
                        {
                            "id": "call_2",
                            "type": "function",
                            "function": {"name": "now", "arguments": ""},
                        },
                    ],
                },
                {"role": "tool", "tool_call_id": "call_1", "content": '{"temp_c": 18}'},
                {"role": "tool", "tool_call_id": "call_2", "content": "noon"},
            ],
            "tools": [
                {
                    "type": "function",
                    "function": {
                        "name": "get_weather",
                        "parameters": {
                            "type": "object",
                            "properties": {"city": {"type": "string"}},
                            "additionalProperties": False,
                            "$schema": "x",
                        },
                    },
                },
                {"type": "function", "function": {"name": "now"}},
            ],
        }
    )
    model_turn, results = out["contents"][1], out["contents"][2]
    assert model_turn["parts"][0] == {
        "functionCall": {"id": "call_1", "name": "get_weather", "args": {"city": "Paris"}},
        "thoughtSignature": "skip_thought_signature_validator",
    }
    assert results == {
        "role": "user",
        "parts": [
            {
                "functionResponse": {
                    "name": "get_weather",
                    "response": {"result": {"temp_c": 18}},
                    "id": "call_1",
                }
            },
            {"functionResponse": {"name": "now", "response": {"result": "noon"}, "id": "call_2"}},
        ],
    }
    assert out["tools"] == [
        {
            "functionDeclarations": [
                {
                    "name": "get_weather",
                    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
                },
                {"name": "now", "parameters": {"type": "object", "properties": {}}},
            ]
        }
    ]
    assert out["toolConfig"] == {"functionCallingConfig": {"mode": "AUTO"}}


def test_session_id_is_stable_and_negative() -> None:
    a = tr({"messages": [{"role": "user", "content": "same"}]})["sessionId"]
    b = tr(
        {
            "messages": [
                {"role": "user", "content": "same"},
                {"role": "assistant", "content": "x"},
                {"role": "user", "content": "more"},
            ]
        }
    )["sessionId"]
    assert a == b and a.startswith("-") and int(a) < 0
