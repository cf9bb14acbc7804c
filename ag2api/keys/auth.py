"""Client API keys: which key a request presents, and a constant-time check against the set."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from urllib.parse import urlencode

from tornado.httputil import HTTPServerRequest

from ag2api.config.schema import ApiKey


def presented_key(headers: Mapping[str, str], query_key: str | None = None) -> str | None:
    """``Authorization: Bearer <key>`` (OpenAI SDKs), ``x-api-key: <key>`` (Anthropic style),
    ``x-goog-api-key: <key>`` (Gemini API), then ``query_key`` (the Gemini API's ``?key=``, on
    the routes that take it: see :func:`take_query_key`)."""
    auth = headers.get("Authorization", "")
    if auth[:7].lower() == "bearer ":
        return auth[7:].strip() or None
    for name in ("x-api-key", "x-goog-api-key"):
        key = headers.get(name, "").strip()
        if key:
            return key
    return (query_key or "").strip() or None


def take_query_key(request: HTTPServerRequest) -> str | None:
    """The ``?key=`` of a request, taken out of it: the handler, the logs (Tornado's exception
    log prints ``request.uri``) and anything passed on never see it."""
    values = request.query_arguments.pop("key", None)
    if values is None:
        return None
    request.arguments.pop("key", None)
    request.query = urlencode(
        [(name, value) for name, vs in request.query_arguments.items() for value in vs]
    )
    request.uri = request.path + ("?" + request.query if request.query else "")
    return values[-1].decode("utf-8", "replace")


def find_key(keys: tuple[ApiKey, ...], presented: str | None) -> ApiKey | None:
    """The configured key equal to ``presented``; every key is compared, in constant time.

    Keys are compared by their sha256 digests, so plain and hashed (``sha256:<hex>``) entries
    take the same path and the same time."""
    if presented is None:
        return None
    given = hashlib.sha256(presented.encode("utf-8")).hexdigest().encode()
    found: ApiKey | None = None
    for key in keys:
        if hmac.compare_digest(key.digest.encode(), given):
            found = key
    return found
