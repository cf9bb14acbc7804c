# ruff: noqa: E501
"""The upstream's literal error bodies (docs/protocol.md §5) and the fake's default answers."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

UNAUTHENTICATED = {
    "error": {
        "code": 401,
        "message": "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.",
        "status": "UNAUTHENTICATED",
    }
}
NOT_FOUND = {
    "error": {"code": 404, "message": "Requested entity was not found.", "status": "NOT_FOUND"}
}
INVALID_ARGUMENT = {
    "error": {
        "code": 400,
        "message": "Request contains an invalid argument.",
        "status": "INVALID_ARGUMENT",
    }
}
INTERNAL = {"error": {"code": 500, "message": "Internal error encountered.", "status": "INTERNAL"}}


def consumer_invalid(project: str) -> dict[str, Any]:
    return {
        "error": {
            "code": 403,
            "message": f"Permission denied on resource project {project}.",
            "status": "PERMISSION_DENIED",
            "details": [
                {
                    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                    "reason": "CONSUMER_INVALID",
                    "domain": "googleapis.com",
                    "metadata": {
                        "containerInfo": project,
                        "consumer": f"projects/{project}",
                        "service": "cloudaicompanion.googleapis.com",
                    },
                }
            ],
        }
    }


VALIDATION_REQUIRED = {
    "error": {
        "code": 403,
        "message": "To continue, verify your account at\n\nhttps://accounts.google.com/signin/continue?sarp=1\n\nLearn more\n\nhttps://support.google.com/accounts?p=al_alert\n",
        "status": "PERMISSION_DENIED",
        "details": [
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "VALIDATION_REQUIRED",
                "domain": "cloudcode-pa.googleapis.com",
                "metadata": {
                    "validation_message_description": "To continue, verify your account at",
                    "validation_url_link_text": "Verify your account",
                    "validation_learn_more_link_text": "Learn more",
                    "validation_learn_more_url": "https://support.google.com/accounts?p=al_alert",
                    "validation_error_message": "Verify your account to continue.",
                    "validation_url": "https://accounts.google.com/signin/continue?sarp=1",
                },
            }
        ],
    }
}
VERIFY_URL = "https://accounts.google.com/signin/continue?sarp=1"


def ineligible_verification() -> dict[str, Any]:
    """loadCodeAssist for an account Google wants verified: no project, no current tier."""
    return {
        "allowedTiers": [{"id": "standard-tier", "userDefinedCloudaicompanionProject": True}],
        "ineligibleTiers": [
            {
                "reasonCode": "VALIDATION_REQUIRED",
                "reasonMessage": "Your current account is not eligible for Antigravity. "
                "Verify your account to continue.",
                "tierId": "free-tier",
                "tierName": "Antigravity",
                "validationErrorMessage": "Verify your account to continue.",
                "validationUrl": VERIFY_URL,
                "validationUrlLinkText": "Verify your account",
            }
        ],
    }


SERVICE_DISABLED = {
    "error": {
        "code": 403,
        "message": "Cloud Code Private API has not been used in project 123 before or it is disabled.",
        "status": "PERMISSION_DENIED",
        "details": [
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "SERVICE_DISABLED",
                "domain": "googleapis.com",
                "metadata": {"service": "cloudcode-pa.googleapis.com"},
            }
        ],
    }
}
TOS_BANNED = {
    "error": {
        "code": 403,
        "message": "This account has been disabled due to a violation of Terms of Service.",
        "status": "PERMISSION_DENIED",
    }
}
PLAIN_403 = {
    "error": {
        "code": 403,
        "message": "The caller does not have permission",
        "status": "PERMISSION_DENIED",
    }
}
RATE_LIMITED = {
    "error": {
        "code": 429,
        "message": "You have exhausted your capacity on this model. Your quota will reset after 0s.",
        "status": "RESOURCE_EXHAUSTED",
        "details": [
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "RATE_LIMIT_EXCEEDED",
                "domain": "cloudcode-pa.googleapis.com",
                "metadata": {
                    "model": "claude-opus-4-6-thinking",
                    "quotaResetDelay": "479.417207ms",
                    "quotaResetTimeStamp": "2026-04-20T09:19:49Z",
                    "uiMessage": "true",
                },
            },
            {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "0.479417207s"},
        ],
    }
}
QUOTA_EXHAUSTED = {
    "error": {
        "code": 429,
        "message": "You have exhausted your capacity on this model. Your quota will reset after 161h39m41s.",
        "status": "RESOURCE_EXHAUSTED",
        "details": [
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "QUOTA_EXHAUSTED",
                "domain": "cloudcode-pa.googleapis.com",
                "metadata": {
                    "uiMessage": "true",
                    "model": "claude-sonnet-4-5",
                    "quotaResetDelay": "161h39m41.300432511s",
                    "quotaResetTimeStamp": "2025-12-18T20:18:34Z",
                },
            },
            {
                "@type": "type.googleapis.com/google.rpc.RetryInfo",
                "retryDelay": "581981.300432511s",
            },
        ],
    }
}
# No ErrorInfo, no RetryInfo: a rate limit in name only — how the backend refuses a system
# instruction it will not serve (a masked content rejection), whatever the account's quota.
BARE_RESOURCE_EXHAUSTED = {
    "error": {
        "code": 429,
        "message": "Resource has been exhausted (e.g. check quota).",
        "status": "RESOURCE_EXHAUSTED",
    }
}
CAPACITY = {
    "error": {
        "code": 503,
        "message": "No capacity available for model claude-opus-4-5-thinking on the server",
        "status": "UNAVAILABLE",
        "details": [
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "MODEL_CAPACITY_EXHAUSTED",
                "domain": "cloudcode-pa.googleapis.com",
                "metadata": {"model": "claude-opus-4-5-thinking"},
            }
        ],
    }
}
VERSION_NOTICE = "This version of Antigravity is no longer supported. Please update to receive the latest features!"
INVALID_GRANT = {
    "error": "invalid_grant",
    "error_description": "Token has been expired or revoked.",
}


def version_error() -> dict[str, Any]:
    return {"error": {"code": 400, "message": VERSION_NOTICE, "status": "FAILED_PRECONDITION"}}


# Every model listed has quota left: the fake serves them all, and a model listed as used up would
# be skipped by the gateway's routing (tests that want one use it up: used_up() below).
DEFAULT_MODELS: dict[str, dict[str, Any]] = {
    "gemini-2.5-flash": {
        "displayName": "Gemini 2.5 Flash",
        "modelProvider": "MODEL_PROVIDER_GOOGLE",
        "quotaInfo": {"remainingFraction": 0.9, "resetTime": "2026-12-01T00:00:00Z"},
    },
    "gemini-3-pro-high": {
        "displayName": "Gemini 3 Pro (High)",
        "modelProvider": "MODEL_PROVIDER_GOOGLE",
        "quotaInfo": {"remainingFraction": 0.5, "resetTime": "2026-12-01T00:00:00Z"},
    },
    "claude-sonnet-4-5": {
        "displayName": "Claude Sonnet 4.5",
        "modelProvider": "MODEL_PROVIDER_ANTHROPIC",
        "quotaInfo": {"remainingFraction": 1.0, "resetTime": "2026-12-01T00:00:00Z"},
    },
    "claude-sonnet-4-5-thinking": {
        "displayName": "Claude Sonnet 4.5 (Thinking)",
        "modelProvider": "MODEL_PROVIDER_ANTHROPIC",
        "quotaInfo": {"remainingFraction": 0.2, "resetTime": "2026-12-01T00:00:00Z"},
    },
    "gemini-3-pro-image": {
        "displayName": "Gemini 3 Pro Image",
        "modelProvider": "MODEL_PROVIDER_GOOGLE",
        "quotaInfo": {"remainingFraction": 0.8, "resetTime": "2026-12-01T00:00:00Z"},
    },
    "chat_20706": {
        "maxTokens": 16384,
        "quotaInfo": {"remainingFraction": 1},
        "apiProvider": "API_PROVIDER_INTERNAL",
        "isInternal": True,
    },
}


QUOTA_WINDOW = 5 * 3600  # seconds between two resets of a model's quota


def used_up(models: dict[str, dict[str, Any]], name: str) -> dict[str, dict[str, Any]]:
    """``models`` with ``name`` shown used up: a reset time and no fraction, as proto3 says it."""
    quota = {k: v for k, v in models[name]["quotaInfo"].items() if k != "remainingFraction"}
    return {**models, name: {**models[name], "quotaInfo": quota}}


def quota_windows_rolled(models: dict[str, dict[str, Any]], now: float) -> dict[str, Any]:
    """``models`` as the upstream says it at ``now``: a quota reset time already past is moved
    on by whole windows (the real one always names the next reset)."""
    out = {}
    for name, info in models.items():
        quota = info.get("quotaInfo")
        if isinstance(quota, dict) and isinstance(quota.get("resetTime"), str):
            at = dt.datetime.fromisoformat(quota["resetTime"].replace("Z", "+00:00")).timestamp()
            if at <= now:
                at += QUOTA_WINDOW * (int((now - at) // QUOTA_WINDOW) + 1)
                stamp = dt.datetime.fromtimestamp(at, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
                info = {**info, "quotaInfo": {**quota, "resetTime": stamp}}
        out[name] = info
    return out


def last_user_text(request: dict[str, Any]) -> str:
    for turn in reversed(request.get("contents") or []):
        if turn.get("role") == "user":
            texts = [p["text"] for p in turn.get("parts", []) if isinstance(p.get("text"), str)]
            if texts:
                return " ".join(t.strip() for t in texts if t.strip())
    return ""


def response_event(
    parts: list[dict[str, Any]],
    *,
    model: str,
    response_id: str,
    finish: str | None = None,
    usage: dict[str, int] | None = None,
) -> dict[str, Any]:
    cand: dict[str, Any] = {"content": {"role": "model", "parts": parts}}
    if finish:
        cand["finishReason"] = finish
    response: dict[str, Any] = {
        "candidates": [cand],
        "modelVersion": model,
        "responseId": response_id,
    }
    if usage is not None:
        response["usageMetadata"] = usage
    return {"response": response, "traceId": "71e379e3bb5c38c5"}


def sse(event: dict[str, Any], crlf: bool = False) -> bytes:
    line = b"data: " + json.dumps(event, separators=(",", ":")).encode()
    return line + (b"\r\n\r\n" if crlf else b"\n\n")
