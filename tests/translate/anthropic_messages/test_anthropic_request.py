"""Anthropic Messages request → Gemini request (pure)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from ag2api.errors import InvalidRequest
from ag2api.models.families import SENTINEL
from ag2api.translate.anthropic_messages.request import (
    RequestInfo,
    inline_source,
    remote_images,
    to_gemini,
)
from tests.support.claude_code_fixtures import (
    ATTRIBUTION,
    ENVIRONMENT,
    PROMPT,
    REMINDER,
    first_request,
)

CLAUDE = "claude-sonnet-4-5-thinking"
GEMINI3 = "gemini-3-pro-high"
USER = [{"role": "user", "content": "hi"}]


def keys(value: Any) -> set[str]:
    if isinstance(value, dict):
        return set(value).union(*(keys(v) for v in value.values()))
    if isinstance(value, list):
        return set().union(*(keys(v) for v in value))
    return set()


def tr(body: dict[str, Any], model: str = CLAUDE, default: dict[str, Any] | None = None) -> Any:
    return to_gemini(body, model=model, thinking_default=default)


def test_claude_code_first_request() -> None:
    request, info = tr(first_request(), model=CLAUDE)
    system = [p["text"] for p in request["systemInstruction"]["parts"]]
    assert not any(t.startswith(ATTRIBUTION[:20]) for t in system)  # attribution dropped
    assert system[-1] == ENVIRONMENT  # the mid-conversation system turn joins the system
    assert request["contents"] == [
        {"role": "user", "parts": [{"text": REMINDER}, {"text": PROMPT}]}
    ]
    dumped = json.dumps(request)
    for banned in ("cache_control", "context_management", "metadata", "output_config", "$schema"):
        assert banned not in dumped
    assert not {"additionalProperties", "exclusiveMinimum", "default"} & keys(request["tools"])
    decls = request["tools"][0]["functionDeclarations"]
    assert [d["name"] for d in decls] == ["Bash", "Edit", "Read", "DeferredToolPlaceholder"]
    assert len(request["tools"]) == 1  # web search dropped next to functions, no 400
    assert request["toolConfig"] == {"functionCallingConfig": {"mode": "VALIDATED"}}
    # Claude's placeholder fills the empty schemas, top-level ones are remembered.
    assert decls[3]["parameters"]["properties"] == {
        "reason": {
            "type": "string",
            "description": "Brief explanation of why you are calling this tool",
        }
    }
    assert "reason" in decls[1]["parameters"]["properties"]["edits"]["items"]["properties"]
    assert info.placeholders == frozenset({"DeferredToolPlaceholder"})
    gen = request["generationConfig"]
    # adaptive + effort medium → Claude's medium budget; 128000 capped to Claude's 64000.
    assert gen["thinkingConfig"] == {"includeThoughts": True, "thinkingBudget": 8192}
    assert gen["maxOutputTokens"] == 64000
    assert info.thinking is True and info.closed_loop is False
    assert request["sessionId"].startswith("-")


def test_gemini3_adaptive_effort_is_a_level() -> None:
    request, info = tr(first_request("gemini-3-flash"), model="gemini-3-flash")
    assert request["generationConfig"]["thinkingConfig"] == {
        "includeThoughts": True,
        "thinkingLevel": "medium",
    }
    assert request["generationConfig"]["maxOutputTokens"] == 65536
    assert "toolConfig" not in request  # Gemini keeps its default AUTO mode
    assert info.placeholders == frozenset()


@pytest.mark.parametrize(
    ("thinking", "effort", "model", "expected"),
    [
        ({"type": "enabled", "budget_tokens": 31999}, None, CLAUDE, {"thinkingBudget": 31999}),
        ({"type": "enabled", "budget_tokens": 2048}, None, GEMINI3, {"thinkingLevel": "high"}),
        ({"type": "enabled", "budget_tokens": 1024}, None, GEMINI3, {"thinkingLevel": "low"}),
        ({"type": "adaptive"}, None, CLAUDE, {"thinkingBudget": 24576}),
        ({"type": "adaptive"}, "max", CLAUDE, {"thinkingBudget": 48000}),
        ({"type": "disabled"}, None, "gemini-2.5-flash", {"thinkingBudget": 0}),
        (None, "low", "gemini-2.5-flash", {"thinkingBudget": 1024}),
    ],
)
def test_thinking_mapping(
    thinking: Any, effort: str | None, model: str, expected: dict[str, Any]
) -> None:
    body: dict[str, Any] = {"messages": USER, "max_tokens": 64000}
    if thinking:
        body["thinking"] = thinking
    if effort:
        body["output_config"] = {"effort": effort}
    config = tr(body, model=model)[0]["generationConfig"]["thinkingConfig"]
    assert {k: v for k, v in config.items() if k != "includeThoughts"} == expected


def test_no_thinking_field_uses_the_policy_default() -> None:
    default = {"includeThoughts": True, "thinkingBudget": 1024}
    request, info = tr({"messages": USER, "max_tokens": 4096}, default=default)
    assert request["generationConfig"]["thinkingConfig"] == default and info.thinking


def test_claude_budget_kept_below_max_tokens() -> None:
    body = {
        "messages": USER,
        "max_tokens": 4096,
        "thinking": {"type": "enabled", "budget_tokens": 8000},
    }
    gen = tr(body)[0]["generationConfig"]
    assert gen["thinkingConfig"]["thinkingBudget"] == 4095 and gen["maxOutputTokens"] == 4096


def test_claude_thinking_drops_sampling_it_rejects() -> None:
    body = {
        "messages": USER,
        "max_tokens": 4096,
        "temperature": 0.2,
        "top_p": 0.5,
        "top_k": 5,
        "stop_sequences": ["END"],
        "thinking": {"type": "enabled", "budget_tokens": 1024},
    }
    gen = tr(body)[0]["generationConfig"]
    assert "temperature" not in gen and "topP" not in gen and "topK" not in gen
    assert gen["stopSequences"] == ["END"]
    gen = tr({**body, "thinking": {"type": "disabled"}}, model="gemini-2.5-flash")[0][
        "generationConfig"
    ]
    assert (gen["temperature"], gen["topP"], gen["topK"]) == (0.2, 0.5, 5)


@pytest.mark.parametrize(
    ("patch", "param"),
    [
        ({"messages": []}, "messages"),
        ({"messages": "hi"}, "messages"),
        ({"messages": [{"role": "tool", "content": "x"}]}, "messages"),
        ({"messages": [{"role": "user", "content": 5}]}, "messages"),
        ({"messages": [{"role": "user", "content": [{"type": "text", "text": 5}]}]}, "messages"),
        ({"system": 5}, "system"),
        ({"system": [{"type": "image"}]}, "system"),
        ({"max_tokens": "many"}, "max_tokens"),
        ({"max_tokens": True}, "max_tokens"),
        ({"temperature": 3}, "temperature"),
        ({"top_k": -1}, "top_k"),
        ({"stop_sequences": "END"}, "stop_sequences"),
        ({"stop_sequences": ["a", "b", "c", "d", "e", "f"]}, "stop_sequences"),
        ({"thinking": {"type": "sometimes"}}, "thinking"),
        ({"thinking": {"type": "enabled", "budget_tokens": "lots"}}, "thinking"),
        ({"thinking": "on"}, "thinking"),
        ({"output_config": {"effort": "extreme"}}, "output_config"),
        ({"output_config": "high"}, "output_config"),
        ({"tools": {"name": "x"}}, "tools"),
        ({"tools": [{"description": "no name"}]}, "tools"),
        ({"tools": [{"name": "x", "input_schema": "object"}]}, "tools"),
        ({"tools": [5]}, "tools"),
        (
            {"tool_choice": {"type": "tool", "name": "missing"}, "tools": [{"name": "x"}]},
            "tool_choice",
        ),
        ({"tool_choice": {"type": "any"}}, "tool_choice"),
        ({"tool_choice": "auto"}, "tool_choice"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(patch: dict[str, Any], param: str) -> None:
    body: dict[str, Any] = {"messages": USER, "max_tokens": 100, **patch}
    with pytest.raises(InvalidRequest) as caught:
        tr(body)
    assert caught.value.param == param


@pytest.mark.parametrize(
    "block",
    [
        {"type": "image"},
        {"type": "image", "source": {"type": "base64", "media_type": "image/tiff", "data": "AA"}},
        {"type": "image", "source": {"type": "base64", "media_type": "image/png"}},
        {"type": "image", "source": {"type": "url", "url": "https://example.com/a.png"}},
        {"type": "document", "source": {"type": "file", "file_id": "f"}},
        {"type": "tool_result", "tool_use_id": "toolu_nowhere", "content": "x"},
    ],
)
def test_bad_blocks_are_400s(block: dict[str, Any]) -> None:
    with pytest.raises(InvalidRequest) as caught:
        tr({"messages": [{"role": "user", "content": [block]}]})
    assert caught.value.param == "messages"


def test_not_an_object_body() -> None:
    with pytest.raises(InvalidRequest):
        tr([1, 2])  # type: ignore[arg-type]


def nested(depth: int) -> dict[str, Any]:
    deep: dict[str, Any] = {"type": "object"}
    node = deep
    for _ in range(depth):
        node["properties"] = {"a": {"type": "object"}}
        node = node["properties"]["a"]
    return deep


def test_deeply_nested_schema_is_a_400_not_a_crash() -> None:
    body = {"messages": USER, "tools": [{"name": "x", "input_schema": nested(900)}]}
    with pytest.raises(InvalidRequest) as caught:
        tr(body)
    assert caught.value.param == "tools"
    tr({"messages": USER, "tools": [{"name": "x", "input_schema": nested(10)}]})


def test_remote_images_tolerates_junk() -> None:
    assert (
        remote_images({"messages": ["x", {"role": "user", "content": ["y", {"type": "image"}]}]})
        == []
    )
    assert remote_images([]) == []


def test_deeply_nested_tool_input_is_a_400() -> None:
    deep: dict[str, Any] = {}
    node = deep
    for _ in range(200):
        node["a"] = {}
        node = node["a"]
    body = {
        "messages": [
            {"role": "user", "content": "go"},
            {
                "role": "assistant",
                "content": [{"type": "tool_use", "id": "t1", "name": "x", "input": deep}],
            },
        ]
    }
    with pytest.raises(InvalidRequest) as caught:
        tr(body, model="gemini-2.5-flash")
    assert caught.value.param == "messages"


def test_unknown_fields_and_blocks_are_consumed() -> None:
    body = {
        "messages": [
            {
                "role": "user",
                "content": [
                    {
                        "type": "text",
                        "text": "hi",
                        "citations": [],
                        "cache_control": {"type": "ephemeral"},
                    },
                    {"type": "tool_reference", "tool_name": "Bash"},
                    {"type": "text", "text": "   "},
                ],
            }
        ],
        "container": "c1",
        "mcp_servers": [],
        "service_tier": "auto",
        "tools": [
            {"type": "bash_20250124", "name": "bash"},
            {"type": "advisor_20260301", "name": "advisor"},
        ],
    }
    request, _ = tr(body)
    assert request["contents"] == [{"role": "user", "parts": [{"text": "hi"}]}]
    assert "tools" not in request and "toolConfig" not in request


def test_web_search_becomes_google_search_for_gemini_without_functions() -> None:
    body = {"messages": USER, "tools": [{"type": "web_search_20260209", "name": "web_search"}]}
    assert tr(body, model="gemini-2.5-flash")[0]["tools"] == [{"googleSearch": {}}]
    assert "tools" not in tr(body, model=CLAUDE)[0]


def test_media_blocks() -> None:
    png = {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}
    pdf = {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0x"}
    body = {
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "image", "source": png},
                    {"type": "document", "source": pdf, "title": "spec"},
                    {
                        "type": "document",
                        "source": {"type": "text", "media_type": "text/plain", "data": "notes"},
                    },
                    {"type": "text", "text": "describe"},
                ],
            }
        ]
    }
    parts = tr(body)[0]["contents"][0]["parts"]
    assert parts == [
        {"inlineData": {"mimeType": "image/png", "data": "iVBORw0KGgo="}},
        {"inlineData": {"mimeType": "application/pdf", "data": "JVBERi0x"}},
        {"text": "notes"},
        {"text": "describe"},
    ]


def test_remote_images_are_listed_and_inlined_by_the_handler() -> None:
    url = {"type": "url", "url": "https://example.com/cat.png"}
    body = {
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "call"}]},
            {
                "role": "assistant",
                "content": [{"type": "tool_use", "id": "t1", "name": "shot", "input": {}}],
            },
            {
                "role": "user",
                "content": [
                    {"type": "image", "source": dict(url)},
                    {
                        "type": "tool_result",
                        "tool_use_id": "t1",
                        "content": [{"type": "image", "source": dict(url)}],
                    },
                ],
            },
        ]
    }
    found = remote_images(body)
    assert [where for where, _ in found] == [
        "messages.2.content.0",
        "messages.2.content.1.content.0",
    ]
    for _, source in found:
        inline_source(source, "data:image/png;base64,QUJD")
    request, _ = tr(body, model="gemini-2.5-flash")
    last = request["contents"][-1]["parts"]
    assert last[0] == {"functionResponse": {"id": "t1", "name": "shot", "response": {"result": ""}}}
    assert last[1:] == [{"inlineData": {"mimeType": "image/png", "data": "QUJD"}}] * 2


def test_tool_loop_shapes_for_gemini() -> None:
    body = {
        "messages": [
            {"role": "user", "content": "list files"},
            {
                "role": "assistant",
                "content": [
                    {"type": "text", "text": "Listing."},
                    {
                        "type": "tool_use",
                        "id": "toolu_1",
                        "name": "mcp.fs/list",
                        "input": {"dir": "."},
                    },
                    {
                        "type": "tool_use",
                        "id": "toolu_2",
                        "name": "Bash",
                        "input": {"command": "ls"},
                    },
                ],
            },
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": REMINDER},
                    {
                        "type": "tool_result",
                        "tool_use_id": "toolu_1",
                        "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}],
                    },
                    {
                        "type": "tool_result",
                        "tool_use_id": "toolu_2",
                        "content": "boom",
                        "is_error": True,
                    },
                ],
            },
        ],
        "tools": [
            {
                "name": "mcp.fs/list",
                "input_schema": {"type": "object", "properties": {"dir": {"type": "string"}}},
            },
            {"name": "mcp_fs_list", "input_schema": {"type": "object"}},
            {
                "name": "Bash",
                "input_schema": {"type": "object", "properties": {"command": {"type": "string"}}},
            },
            {"name": "Bash", "input_schema": {"type": "object"}},
        ],
    }
    request, info = tr(body, model="gemini-2.5-flash")
    names = [d["name"] for d in request["tools"][0]["functionDeclarations"]]
    assert names == ["mcp_fs_list", "mcp_fs_list_2", "Bash"]  # made safe, unique, deduplicated
    assert info.tool_names == {"mcp_fs_list": "mcp.fs/list", "mcp_fs_list_2": "mcp_fs_list"}
    model_turn, results = request["contents"][1]["parts"], request["contents"][2]["parts"]
    assert model_turn == [
        {"text": "Listing."},
        {
            "functionCall": {"id": "toolu_1", "name": "mcp_fs_list", "args": {"dir": "."}},
            "thoughtSignature": SENTINEL,
        },
        {
            "functionCall": {"id": "toolu_2", "name": "Bash", "args": {"command": "ls"}},
            "thoughtSignature": SENTINEL,
        },
    ]
    assert results == [  # results first, then the reminder text
        {
            "functionResponse": {
                "id": "toolu_1",
                "name": "mcp_fs_list",
                "response": {"result": "a\nb"},
            }
        },
        {"functionResponse": {"id": "toolu_2", "name": "Bash", "response": {"error": "boom"}}},
        {"text": REMINDER},
    ]


def test_tool_choice_modes() -> None:
    tools = [
        {
            "name": "get_weather",
            "input_schema": {"type": "object", "properties": {"c": {"type": "string"}}},
        }
    ]
    cases = {
        "auto": {"mode": "AUTO"},
        "any": {"mode": "ANY"},
        "none": {"mode": "NONE"},
    }
    for kind, config in cases.items():
        request = tr(
            {"messages": USER, "tools": tools, "tool_choice": {"type": kind}},
            model="gemini-2.5-flash",
        )[0]
        assert request["toolConfig"]["functionCallingConfig"] == config
    request = tr(
        {"messages": USER, "tools": tools, "tool_choice": {"type": "tool", "name": "get_weather"}}
    )[0]
    assert request["toolConfig"]["functionCallingConfig"] == {
        "mode": "ANY",
        "allowedFunctionNames": ["get_weather"],
    }
    # Claude: auto (or nothing) is VALIDATED.
    assert tr({"messages": USER, "tools": tools, "tool_choice": {"type": "auto"}})[0][
        "toolConfig"
    ] == {"functionCallingConfig": {"mode": "VALIDATED"}}


def test_history_starting_with_assistant_gets_a_user_turn() -> None:
    body = {
        "messages": [
            {"role": "system", "content": "sys"},
            {"role": "assistant", "content": "hello"},
            {"role": "user", "content": "hi"},
        ]
    }
    request, _ = tr(body)
    assert [t["role"] for t in request["contents"]] == ["user", "model", "user"]
    assert request["systemInstruction"]["parts"] == [{"text": "sys"}]


def test_request_info_defaults() -> None:
    assert RequestInfo(model="m").tool_names == {}
