"""Reading the upstream's error bodies (docs/protocol.md §5)."""

from __future__ import annotations

import json

import pytest

from ag2api.testing import fake_bodies as b
from ag2api.upstream.google_error import parse_duration, parse_google_error


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("0.479417207s", 0.479417207),
        ("479.417207ms", 0.479417207),
        ("39s", 39.0),
        ("161h39m41.300432511s", 161 * 3600 + 39 * 60 + 41.300432511),
        ("", None),
        ("soon", None),
    ],
)
def test_durations(text: str, seconds: float | None) -> None:
    assert (
        parse_duration(text) == pytest.approx(seconds) if seconds else parse_duration(text) is None
    )


def test_rate_limit_body_gives_reason_and_retry_delay() -> None:
    err = parse_google_error(429, json.dumps(b.RATE_LIMITED).encode())
    assert err.reasons == ("RATE_LIMIT_EXCEEDED",)
    assert err.retry_delay == pytest.approx(0.479417207)
    assert err.account_cause() is None


def test_quota_exhausted_delay_is_hours() -> None:
    err = parse_google_error(429, json.dumps(b.QUOTA_EXHAUSTED))
    assert err.reasons == ("QUOTA_EXHAUSTED",)
    assert err.retry_delay == pytest.approx(581981.300432511)


@pytest.mark.parametrize(
    ("body", "prefix"),
    [
        (b.VALIDATION_REQUIRED, "VALIDATION_REQUIRED: To continue, verify your account at"),
        (b.consumer_invalid("swift-core-1234"), "CONSUMER_INVALID: Permission denied"),
        (b.SERVICE_DISABLED, "SERVICE_DISABLED: Cloud Code Private API"),
        (b.TOS_BANNED, "TOS_BANNED: This account has been disabled"),
    ],
)
def test_account_causes(body: dict, prefix: str) -> None:
    cause = parse_google_error(403, json.dumps(body)).account_cause()
    assert cause is not None and cause.startswith(prefix)


def test_validation_cause_carries_the_verification_url() -> None:
    cause = parse_google_error(403, json.dumps(b.VALIDATION_REQUIRED)).account_cause()
    assert cause is not None and "https://accounts.google.com/signin/continue?sarp=1" in cause


def test_plain_403_names_no_account_cause() -> None:
    assert parse_google_error(403, json.dumps(b.PLAIN_403)).account_cause() is None


def test_claude_error_wrapped_in_message_is_unwrapped() -> None:
    inner = {
        "type": "error",
        "error": {
            "type": "invalid_request_error",
            "message": "messages.1.content.0: Invalid `signature`",
        },
    }
    body = {"error": {"code": 400, "message": json.dumps(inner), "status": "INVALID_ARGUMENT"}}
    assert parse_google_error(400, json.dumps(body)).message == (
        "messages.1.content.0: Invalid `signature`"
    )


def test_non_json_body_becomes_its_text() -> None:
    err = parse_google_error(502, b"<html>Bad Gateway</html>")
    assert err.message == "<html>Bad Gateway</html>" and err.code == 502


def test_version_notice_is_recognised() -> None:
    assert parse_google_error(400, json.dumps(b.version_error())).is_version_notice


@pytest.mark.parametrize(
    ("message", "seconds"),
    [
        (
            "Individual quota reached. Contact your administrator. Resets in 108h48m29s.",
            108 * 3600 + 48 * 60 + 29,
        ),
        ("You have exhausted your capacity on this model. Your quota will reset after 45s.", 45),
        ("Resource has been exhausted (e.g. check quota).", None),
    ],
)
def test_delay_read_from_the_message_when_no_details(message: str, seconds: float | None) -> None:
    body = {"error": {"code": 429, "message": message, "status": "RESOURCE_EXHAUSTED"}}
    assert parse_google_error(429, json.dumps(body)).retry_delay == seconds
