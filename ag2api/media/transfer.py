"""One GET of an image URL on the fetch client, within the per-image and per-request byte caps.

The transfer is aborted (libcurl drops the connection) the moment it goes over a cap, turns out
not to be an image, or the task awaiting it is cancelled (a sibling fetch failed, the client left).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import pycurl
from tornado.httpclient import HTTPRequest, HTTPResponse
from tornado.httputil import HTTPHeaders

from ag2api.config.schema import ImagesConfig
from ag2api.media.urls import ImageUrl
from ag2api.upstream.transport import AbortableCurlClient, no_header_trace

REDIRECTS = (301, 302, 303, 307, 308)


class FetchFailed(Exception):
    """Why an image could not be fetched (said to the client as a 400)."""


@dataclass
class ByteBudget:
    """What the images of one request may still download in total (``images.max_total_bytes``)."""

    limit: int
    used: int = 0


@dataclass
class Answer:
    status: int
    headers: HTTPHeaders
    body: bytes = b""
    mime: str = ""


@dataclass
class _Progress:
    size: int = 0
    status: int = 0
    mime: str = ""
    failure: str | None = None
    chunks: list[bytes] = field(default_factory=list)


async def get(
    http: AbortableCurlClient,
    target: ImageUrl,
    pin: str | None,
    cfg: ImagesConfig,
    proxy: str | None,
    budget: ByteBudget,
) -> Answer:
    progress = _Progress()
    handle: list[pycurl.Curl] = []
    request: HTTPRequest

    def fail(reason: str) -> None:
        progress.failure = reason
        progress.chunks.clear()
        http.abort(request, reason)

    def on_chunk(chunk: bytes) -> None:
        if progress.failure is not None:
            return
        if not progress.status and handle:
            # Chunks are delivered while the handle still belongs to this transfer.
            progress.status = handle[0].getinfo(pycurl.RESPONSE_CODE)
            progress.mime = _mime(handle[0].getinfo(pycurl.CONTENT_TYPE))
            if progress.status == 200 and not progress.mime.startswith("image/"):
                fail(f"the URL is not an image (Content-Type {progress.mime!r})")
                return
            if progress.status != 200 and progress.status not in REDIRECTS:
                fail(f"fetching the image gave HTTP {progress.status}")
                return
        progress.size += len(chunk)
        budget.used += len(chunk)
        if progress.size > cfg.max_bytes:
            fail(f"the image is larger than {cfg.max_bytes} bytes")
        elif budget.used > budget.limit:
            fail(f"the request's images are larger than {budget.limit} bytes in total")
        elif progress.status == 200:
            progress.chunks.append(chunk)

    def prepare(curl: pycurl.Curl) -> None:
        handle.append(curl)
        no_header_trace(curl)
        curl.setopt(pycurl.PROTOCOLS, pycurl.PROTO_HTTP | pycurl.PROTO_HTTPS)
        # "" also keeps libcurl from taking a proxy from http_proxy/https_proxy.
        curl.setopt(pycurl.PROXY, proxy or "")
        if pin is not None and not proxy:
            curl.setopt(pycurl.RESOLVE, [pin])

    request = HTTPRequest(
        target.url,
        follow_redirects=False,
        connect_timeout=cfg.timeout,
        request_timeout=cfg.timeout,
        streaming_callback=on_chunk,
        prepare_curl_callback=prepare,
        decompress_response=True,
        headers={"Accept": "image/*"},
    )
    fetching = http.fetch(request, raise_error=False)
    # Shielded, so that a cancel (a sibling fetch failed, the client left) leaves the fetch's own
    # future to the abort below: Tornado logs an ERROR for an abort that finds it cancelled.
    fetching.add_done_callback(_seen)
    try:
        response = await asyncio.shield(fetching)
    except asyncio.CancelledError:
        http.abort(request, "cancelled")  # a cancelled future alone leaves libcurl downloading
        raise
    except Exception as exc:  # no HTTP answer: refused, timed out, or aborted by a cap above
        raise FetchFailed(progress.failure or f"could not fetch the image: {exc}") from exc
    finally:
        # Two reference cycles that would keep every chunk until the cycle collector runs,
        # which the gateway does rarely (server/gc.py): request → on_chunk → fail → request,
        # and this frame → fetching → its error → the error's traceback → this frame.
        request.streaming_callback = request.prepare_curl_callback = None
        handle.clear()
        del fetching
    if progress.failure is not None:
        raise FetchFailed(progress.failure)
    mime = progress.mime or _mime(response.headers.get("Content-Type"))
    body = b"".join(progress.chunks)
    progress.chunks.clear()
    return Answer(response.code, response.headers, body, mime)


def _seen(fetching: asyncio.Future[HTTPResponse]) -> None:
    """Marks an error as retrieved: after a cancel nobody awaits it, and it is no news then."""
    if not fetching.cancelled():
        fetching.exception()


def _mime(value: str | None) -> str:
    return (value or "").split(";")[0].strip().lower()
