"""Masking of secrets and identifiers before they reach a log line or a response."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable

# "project <id>", "projects/<id>", "?project=<id>", '"projectId": "<id>"' as Google writes them.
_PROJECT_RE = re.compile(
    r"\b(projects?(?:[_ ]?ids?)?['\"]?(?:/|=|\s*:\s*|\s+)['\"]?)([\w.:-]+)(…)?", re.I
)
# An account's own verification link as a disabled reason carries it.
_VERIFY_LINK = re.compile(r"\s*(?:—\s*verify at\s*)?https://accounts\.google\.com/\S+")
# Shorter known ids are not replaced: they would hit ordinary words.
_MIN_KNOWN = 4


def mask(value: str | None, keep: int = 4) -> str:
    """``"helpful-perigee-2nnd9"`` → ``"help…nnd9"``. A value too short to show any of it
    becomes ``"…"`` and a short stable hash of it, so two of them stay apart in logs."""
    if not value:
        return "-"
    if len(value) <= 2 * keep + 2:
        return "…" + hashlib.sha256(b"ag2api-mask:" + value.encode()).hexdigest()[:6]
    return f"{value[:keep]}…{value[-keep:]}"


def mask_projects(text: str, known: Iterable[str] = ()) -> str:
    """``text`` with project ids masked: every occurrence of a ``known`` id, and any id Google
    names as ``project <id>`` / ``projects/<id>``. Masking masked text changes nothing."""
    for project in sorted({p for p in known if p and len(p) >= _MIN_KNOWN}, key=len, reverse=True):
        text = text.replace(project, mask(project))
    return _PROJECT_RE.sub(_mask_match, text)


def _mask_match(match: re.Match[str]) -> str:
    lead, raw, ellipsis = match.groups()
    ident = raw.rstrip(".:-")
    # An id has a digit or a hyphen ("the project is disabled" names none); "proj…0001" is done.
    if ellipsis or not any(c.isdigit() or c == "-" for c in ident):
        return match.group(0)
    return f"{lead}{mask(ident)}{raw[len(ident) :]}"


def shown_disabled_reason(reason: str | None, project_id: str) -> str | None:
    """A disabled reason as /health and /admin show it: no project id, even in a reason that an
    older version or a hand edit put in tokens.json, and no account's own verification link
    (the admin views carry it apart)."""
    if not reason:
        return reason
    reason = _VERIFY_LINK.sub(" (verification link: /admin, `ag2api accounts`)", reason)
    return mask_projects(reason, (project_id,))


def mask_url_credentials(url: str | None) -> str:
    """A proxy (or any) URL with its user name and password replaced: ``http://***@host:port``."""
    if not url:
        return "-"
    scheme, sep, rest = url.partition("://")
    if not sep:
        scheme, rest = "", url
    _creds, at, host = rest.rpartition("@")
    return f"{scheme}{sep}{'***@' if at else ''}{host}"


def os_reason(exc: BaseException) -> str:
    """An error's reason without the path an OSError's text carries (``Is a directory``): for
    what /health shows, which names no folder."""
    return exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
