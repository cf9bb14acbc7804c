"""Gateway errors in Anthropic's shape; Claude's wrapped errors returned verbatim; count_tokens."""

from __future__ import annotations

import json

import pytest

from ag2api.errors import (
    AuthenticationError,
    GatewayError,
    InvalidRequest,
    ModelNotFound,
    PayloadTooLarge,
    from_upstream,
)
from ag2api.translate.anthropic_messages import count, errors
from ag2api.translate.anthropic_messages.request import to_gemini
from ag2api.translate.gemini import count as gemini_count

CLAUDE_ERROR = {
    "type": "error",
    "error": {
        "type": "invalid_request_error",
        "message": "messages.1.content.0: Invalid `signature` in `thinking` block",
    },
    "request_id": "req_vrtx_011CW5d",
}


@pytest.mark.parametrize(
    ("err", "status", "kind"),
    [
        (InvalidRequest("bad", param="messages"), 400, "invalid_request_error"),
        (AuthenticationError("no key"), 401, "authentication_error"),
        (ModelNotFound("claude-x"), 404, "not_found_error"),
        (PayloadTooLarge("big"), 413, "request_too_large"),
        (from_upstream(429, "slow down", retry_after=7), 429, "rate_limit_error"),
        (GatewayError("boom"), 500, "api_error"),
        (GatewayError("busy", kind="server_busy"), 529, "overloaded_error"),
        (GatewayError("none", kind="no_available_account"), 529, "overloaded_error"),
        (
            from_upstream(503, "No capacity available for model claude-opus-4-5-thinking"),
            529,
            "overloaded_error",
        ),
        (from_upstream(500, "Internal error encountered."), 502, "api_error"),
        (from_upstream(504, "deadline"), 504, "timeout_error"),
        (from_upstream(403, "denied"), 502, "api_error"),
        (GatewayError("nope", kind="method_not_allowed"), 405, "invalid_request_error"),
    ],
)
def test_status_and_type(err: GatewayError, status: int, kind: str) -> None:
    body = errors.body(err)
    assert errors.status(err) == status
    assert body == {"type": "error", "error": {"type": kind, "message": err.message}}
    assert errors.stream_error(err) == ("error", body)


def test_rate_limit_carries_an_integer_retry_after() -> None:
    headers = from_upstream(429, "slow", retry_after=61.2).headers()
    assert headers["Retry-After"] == "62"


def test_wrapped_claude_error_is_returned_verbatim_with_400() -> None:
    wrapped = json.dumps(CLAUDE_ERROR)
    google = {"error": {"code": 400, "message": wrapped, "status": "INVALID_ARGUMENT"}}
    err = from_upstream(400, wrapped)
    assert (errors.status(err), errors.body(err)) == (400, CLAUDE_ERROR)
    assert errors.stream_error(err) == ("error", CLAUDE_ERROR)
    # The whole Google body as text, and the bare message, unwrap the same.
    assert errors.unwrap_claude_error(json.dumps(google)) == CLAUDE_ERROR
    assert errors.unwrap_claude_error(json.dumps(CLAUDE_ERROR)) == CLAUDE_ERROR


@pytest.mark.parametrize(
    "message",
    [
        "Request contains an invalid argument.",
        "Upstream rejected the request: {not json",
        '{"type": "error", "error": {"type": 5}}',
        '{"error": {"code": 400, "message": "plain"}}',
        '{"error": {"message": "{\\"error\\": {\\"message\\": \\"x\\"}}"}}',
        "[1, 2]",
    ],
)
def test_other_messages_do_not_unwrap(message: str) -> None:
    assert errors.unwrap_claude_error(message) is None


def test_count_body_is_exactly_a_request_of_what_counts() -> None:
    body = {
        "model": "claude-sonnet-4-5",
        "system": "be brief",
        "messages": [{"role": "user", "content": "hello there"}],
        "tools": [
            {
                "name": "Bash",
                "input_schema": {"type": "object", "properties": {"c": {"type": "string"}}},
            }
        ],
        "thinking": {"type": "enabled", "budget_tokens": 2048},
    }
    request, _ = to_gemini(body, model="claude-sonnet-4-5-thinking", thinking_default=None)
    out = count.count_body(body, model="claude-sonnet-4-5-thinking")
    assert out == gemini_count.count_request(request)
    assert list(out) == ["request"]
    assert set(out["request"]) == {"contents", "systemInstruction", "tools"}
    assert out["request"]["contents"] == request["contents"]


def test_count_response_and_estimate() -> None:
    assert gemini_count.count_from_response({"totalTokens": 42}) == 42
    assert gemini_count.count_from_response({"totalTokens": "42"}) is None
    assert gemini_count.count_from_response([]) is None
    request = {
        "systemInstruction": {"parts": [{"text": "x" * 40}]},
        "contents": [
            {
                "role": "user",
                "parts": [
                    {"text": "y" * 400},
                    {"inlineData": {"mimeType": "image/png", "data": "A" * 10**6}},
                ],
            },
            {"role": "model", "parts": [{"functionCall": {"name": "f", "args": {}}}]},
        ],
    }
    estimate = gemini_count.estimate(request)
    assert 1600 + 110 <= estimate < 1600 + 130  # the image counts once, not by its base64 size
    assert gemini_count.estimate({"contents": []}) == 1
    assert gemini_count.estimate({"request": request}) == estimate
