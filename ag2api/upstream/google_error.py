"""Reading Google RPC error bodies (docs/protocol.md §5): status, reasons, retry delays, causes.

Project ids in the message are masked as it is parsed: the message travels on to clients (error
bodies), ``/health`` (disabled reasons), tokens.json and the log, none of which may show them.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from ag2api.redact import mask_projects

# 403 reasons that mean this account or project cannot be used at all (docs/protocol.md §5.1).
ACCOUNT_REASONS = (
    "VALIDATION_REQUIRED",
    "CONSUMER_INVALID",
    "SERVICE_DISABLED",
    "ACCOUNT_DISABLED",
)
# ErrorInfo reasons that name a real limit on the account (docs/protocol.md §5.1).
LIMIT_REASONS = ("RATE_LIMIT_EXCEEDED", "QUOTA_EXHAUSTED", "INSUFFICIENT_G1_CREDITS_BALANCE")
_TOS_RE = re.compile(r"disabled.{0,80}(terms of service|violation)", re.I | re.S)
_DURATION_RE = re.compile(r"(\d+(?:\.\d+)?)(h|ms|m|s)")
_UNITS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
_MESSAGE_DELAY_RE = re.compile(
    r"(?:reset after|resets in)\s+((?:\d+(?:\.\d+)?(?:h|ms|m|s))+)", re.I
)
VERSION_NOTICE = "no longer supported"
_SIGN_IN_RE = re.compile(r"https://accounts\.google\.com/signin/continue\?[^\s\"']+")
# ErrorInfo metadata that names the project the error is about ("consumer": "projects/<id>").
_PROJECT_KEYS = ("containerInfo", "consumer", "project", "projectId", "project_id")


@dataclass(frozen=True)
class GoogleError:
    code: int
    status: str
    message: str
    reasons: tuple[str, ...] = ()
    retry_delay: float | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    def account_cause(self) -> str | None:
        """A ``disabled_reason`` when the body says the account or project itself is unusable."""
        for reason in self.reasons:
            if reason in ACCOUNT_REASONS:
                url = self.verification_url() if reason == "VALIDATION_REQUIRED" else None
                detail = f" — verify at {url}" if url else ""
                return f"{reason}: {_first_line(self.message)}{detail}"
        if _TOS_RE.search(self.message):
            return f"TOS_BANNED: {_first_line(self.message)}"
        return None

    def verification_url(self) -> str | None:
        """The link a VALIDATION_REQUIRED answer gives: its metadata, else its message."""
        for key in ("validation_url", "appeal_url"):
            url = self.metadata.get(key)
            if isinstance(url, str) and url.startswith("https://"):
                return url.replace("\\u0026", "&")
        found = _SIGN_IN_RE.search(self.message)
        return found.group(0).replace("\\u0026", "&") if found else None

    @property
    def names_a_limit(self) -> bool:
        """Whether the error says which limit it hit: a known reason, or a delay to wait."""
        return self.retry_delay is not None or any(r in LIMIT_REASONS for r in self.reasons)

    @property
    def is_bare_exhaustion(self) -> bool:
        """RESOURCE_EXHAUSTED with no ErrorInfo and no delay anywhere: how the backend's masked
        content rejection looks ("Resource has been exhausted (e.g. check quota).")."""
        return self.status == "RESOURCE_EXHAUSTED" and not self.reasons and not self.names_a_limit

    @property
    def is_version_notice(self) -> bool:
        return VERSION_NOTICE in self.message.lower()


def parse_google_error(status: int, body: bytes | str) -> GoogleError:
    """Parse an error body whatever its content type; a non-JSON body becomes its text."""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    try:
        data = json.loads(text)
    except ValueError:
        return GoogleError(status, "", mask_projects(text.strip()[:500]))
    err = data.get("error") if isinstance(data, dict) else None
    if isinstance(err, list) and err:  # some proxies wrap errors in a list
        err = err[0]
    if not isinstance(err, dict):
        return GoogleError(status, "", mask_projects(text.strip()[:500]))
    message = _unwrap_claude(str(err.get("message", "")))
    reasons: list[str] = []
    metadata: dict[str, Any] = {}
    delay: float | None = None
    for detail in err.get("details") or ():
        if not isinstance(detail, dict):
            continue
        kind = str(detail.get("@type", ""))
        if kind.endswith("ErrorInfo"):
            if detail.get("reason"):
                reasons.append(str(detail["reason"]))
            if isinstance(detail.get("metadata"), dict):
                metadata.update(detail["metadata"])
        elif kind.endswith("RetryInfo"):
            delay = parse_duration(detail.get("retryDelay"))
    if delay is None:
        delay = parse_duration(metadata.get("quotaResetDelay"))
    if delay is None and (said := _MESSAGE_DELAY_RE.search(message)):
        delay = parse_duration(said.group(1))  # "…reset after 161h39m41s" / "Resets in 1h2m3s"
    raw_code = err.get("code")
    code = raw_code if isinstance(raw_code, int) else status
    message = mask_projects(message, _named_projects(metadata))
    return GoogleError(code, str(err.get("status", "")), message, tuple(reasons), delay, metadata)


def _named_projects(metadata: dict[str, Any]) -> list[str]:
    """The project ids the error's metadata names, so the message is masked in any form."""
    out = []
    for key in _PROJECT_KEYS:
        value = metadata.get(key)
        if isinstance(value, str) and value:
            out.append(value.removeprefix("projects/"))
    return out


def version_notice_in(response: dict[str, Any]) -> str | None:
    """The "no longer supported" notice sent as answer text (docs/protocol.md §5.1), if present."""
    for cand in response.get("candidates") or ():
        for part in (
            (cand.get("content") or {}).get("parts") or () if isinstance(cand, dict) else ()
        ):
            text = part.get("text") if isinstance(part, dict) else None
            if isinstance(text, str) and VERSION_NOTICE in text.lower():
                return text.strip()
    return None


def parse_duration(value: Any) -> float | None:
    """``"0.479s"``, ``"479.4ms"``, ``"161h39m41.3s"`` → seconds."""
    if not isinstance(value, str) or not value:
        return None
    parts = _DURATION_RE.findall(value)
    if not parts:
        return None
    return sum(float(n) * _UNITS[u] for n, u in parts)


def _unwrap_claude(message: str) -> str:
    """Claude errors arrive as a JSON string inside ``message``; surface the inner text."""
    if message.startswith("{"):
        try:
            inner = json.loads(message)
        except ValueError:
            return message
        err = inner.get("error") if isinstance(inner, dict) else None
        if isinstance(err, dict) and isinstance(err.get("message"), str):
            return err["message"]
    return message


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0][:200] if text.strip() else ""
