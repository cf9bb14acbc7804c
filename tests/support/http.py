"""Raw HTTP to a gateway (or any server) on loopback, for what an SDK would hide: status codes,
headers, the bytes of a stream."""

from __future__ import annotations

import json
import socket
from typing import Any

from tornado.httpclient import AsyncHTTPClient, HTTPRequest, HTTPResponse


async def fetch(
    url: str,
    method: str | None = None,
    body: bytes | str | dict[str, Any] | list[Any] | None = None,
    headers: dict[str, str] | None = None,
    *,
    key: str | None = None,
    http: AsyncHTTPClient | None = None,
    **request: Any,
) -> HTTPResponse:
    """One request, answered whatever its status. A dict or list ``body`` goes as JSON; with a
    body the method defaults to POST. ``key`` goes as a Bearer token. Each call has a client of
    its own unless ``http`` is given (many requests at once); ``request`` takes the rest of
    :class:`HTTPRequest` (``streaming_callback``, ``follow_redirects``, ``network_interface``…)."""
    if isinstance(body, dict | list):
        body = json.dumps(body)
        headers = {"Content-Type": "application/json", **(headers or {})}
    if key is not None:
        headers = {"Authorization": f"Bearer {key}", **(headers or {})}
    request.setdefault("request_timeout", 30)
    client = http or AsyncHTTPClient(force_instance=True)
    try:
        return await client.fetch(
            HTTPRequest(
                url,
                method=method or ("POST" if body is not None else "GET"),
                body=body,
                headers=headers or {},
                **request,
            ),
            raise_error=False,
        )
    finally:
        if http is None:
            client.close()


async def health(base_url: str) -> dict[str, Any]:
    """``GET /health``, parsed."""
    response = await fetch(base_url + "/health")
    assert response.code in (200, 503), response.code
    body: dict[str, Any] = json.loads(response.body)
    return body


def free_port() -> int:
    """A loopback port nobody listens on (free when asked; bind it soon)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def closed_port_url() -> str:
    """An address that refuses connections."""
    return f"http://127.0.0.1:{free_port()}"
