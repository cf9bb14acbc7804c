"""Fetching remote ``image_url``s for the model, with size, time, type and address limits.

The translation only takes ``data:`` URLs; this step (I/O, so outside ``translate/``) replaces
every ``http(s)`` image URL in user messages by the data URL of what it points to. Each host is
resolved first and refused when any address is private, loopback, link-local or otherwise not
public (unless ``images.allow_private``), and the connection is pinned to the checked address so a
second DNS answer cannot redirect it. Redirects are followed (three at most), each checked again.
"""

from __future__ import annotations

import asyncio
import base64
import ipaddress
import socket
from typing import Any
from urllib.parse import urljoin, urlsplit

import pycurl
from tornado.httpclient import HTTPRequest

from ag2api.config.schema import ImagesConfig
from ag2api.errors import InvalidRequest
from ag2api.upstream.transport import AbortableCurlClient, no_header_trace

MAX_REDIRECTS = 3


class ImageFetchError(InvalidRequest):
    def __init__(self, where: str, reason: str) -> None:
        super().__init__(f"{where}: {reason}", param="messages")


def remote_image_parts(body: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(where, the ``image_url`` object) for every http(s) image in user messages."""
    found: list[tuple[str, dict[str, Any]]] = []
    messages = body.get("messages")
    if not isinstance(messages, list):
        return found
    for i, msg in enumerate(messages):
        content = msg.get("content") if isinstance(msg, dict) else None
        if not isinstance(content, list) or msg.get("role") != "user":
            continue
        for j, part in enumerate(content):
            image = part.get("image_url") if isinstance(part, dict) else None
            if isinstance(image, dict) and str(image.get("url", "")).startswith(
                ("http://", "https://")
            ):
                found.append((f"messages[{i}].content[{j}].image_url", image))
    return found


class ImageFetcher:
    def __init__(self, http: AbortableCurlClient) -> None:
        self._http = http

    async def inline_remote_images(
        self, body: dict[str, Any], cfg: ImagesConfig, proxy: str | None
    ) -> None:
        """Replace http(s) image URLs in ``body`` (in place) by data URLs."""
        parts = remote_image_parts(body)
        if not parts or not cfg.fetch_remote:
            return
        results = await asyncio.gather(
            *(self.fetch(image["url"], where, cfg, proxy) for where, image in parts)
        )
        for (_, image), data_url in zip(parts, results, strict=True):
            image["url"] = data_url

    async def fetch(self, url: str, where: str, cfg: ImagesConfig, proxy: str | None) -> str:
        for _ in range(MAX_REDIRECTS + 1):
            status, headers, data = await self._get(url, where, cfg, proxy)
            if status in (301, 302, 303, 307, 308) and headers.get("Location"):
                url = urljoin(url, headers["Location"])
                continue
            if status != 200:
                raise ImageFetchError(where, f"fetching the image gave HTTP {status}")
            mime = headers.get("Content-Type", "").split(";")[0].strip().lower()
            if not mime.startswith("image/"):
                raise ImageFetchError(where, f"the URL is not an image (Content-Type {mime!r})")
            return f"data:{mime};base64,{base64.b64encode(data).decode()}"
        raise ImageFetchError(where, f"more than {MAX_REDIRECTS} redirects")

    async def _get(
        self, url: str, where: str, cfg: ImagesConfig, proxy: str | None
    ) -> tuple[int, Any, bytes]:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ImageFetchError(where, "only http and https image URLs can be fetched")
        port = parts.port or (443 if parts.scheme == "https" else 80)
        address = await self._checked_address(parts.hostname, port, where, cfg)
        chunks: list[bytes] = []
        size = 0
        request: HTTPRequest

        def on_chunk(chunk: bytes) -> None:
            nonlocal size
            size += len(chunk)
            if size > cfg.max_bytes:
                self._http.abort(request, "image too large")
            else:
                chunks.append(chunk)

        def prepare(curl: pycurl.Curl) -> None:
            no_header_trace(curl)
            if proxy:
                curl.setopt(pycurl.PROXY, proxy)
            else:  # connect to the address that was checked, not to a fresh DNS answer
                curl.setopt(pycurl.RESOLVE, [f"{parts.hostname}:{port}:{address}"])

        request = HTTPRequest(
            url,
            follow_redirects=False,
            connect_timeout=cfg.timeout,
            request_timeout=cfg.timeout,
            streaming_callback=on_chunk,
            prepare_curl_callback=prepare,
            decompress_response=True,
            headers={"Accept": "image/*"},
        )
        try:
            response = await self._http.fetch(request, raise_error=False)
        except Exception as exc:
            if size > cfg.max_bytes:
                raise ImageFetchError(
                    where, f"the image is larger than {cfg.max_bytes} bytes"
                ) from None
            raise ImageFetchError(where, f"could not fetch the image: {exc}") from None
        return response.code, response.headers, b"".join(chunks)

    async def _checked_address(self, host: str, port: int, where: str, cfg: ImagesConfig) -> str:
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(
                host, port, type=socket.SOCK_STREAM
            )
        except OSError as exc:
            raise ImageFetchError(where, f"cannot resolve {host}: {exc}") from None
        addresses = [str(info[4][0]) for info in infos]
        if not cfg.allow_private:
            for address in addresses:
                ip = ipaddress.ip_address(address.split("%")[0])
                if not ip.is_global or ip.is_multicast:
                    raise ImageFetchError(
                        where, f"{host} resolves to a non-public address ({address}); refused"
                    )
        address = addresses[0]
        return f"[{address}]" if ":" in address else address
