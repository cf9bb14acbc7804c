"""The load generator (its own process): one raw HTTP/1.1 keep-alive connection per client."""

from __future__ import annotations

import asyncio
import json
import ssl
import statistics
import time
from typing import Any
from urllib.parse import urlsplit

from benchkit.model import API_KEY, ROUTES, Route


async def one_connection(
    url: str,
    body: bytes,
    stream: bool,
    route: Route,
    jobs: list[int],
    ttfts: list[float],
    errors: list[str],
    ctx: ssl.SSLContext | None,
    gauge: list[int],
) -> None:
    """Run jobs over one keep-alive connection; ``gauge`` is [streams open now, most at once]."""
    parts = urlsplit(url)
    head = (
        f"POST {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
        f"Authorization: Bearer {API_KEY}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    reader, writer = await asyncio.open_connection(
        parts.hostname, parts.port, ssl=ctx, limit=1 << 20
    )
    is_open = False
    try:
        while jobs:
            jobs.pop()
            started = time.perf_counter()
            writer.write(head + body)
            status = await reader.readline()
            chunked, length = False, 0
            while (line := await reader.readline()) not in (b"\r\n", b""):
                name, _, value = line.decode("latin-1").partition(":")
                if name.lower() == "transfer-encoding" and "chunked" in value:
                    chunked = True
                elif name.lower() == "content-length":
                    length = int(value)
            first: float | None = None
            data = bytearray()
            if chunked:
                while True:
                    size = int((await reader.readline()).split(b";")[0], 16)
                    if size == 0:
                        await reader.readline()
                        break
                    data += await reader.readexactly(size + 2)
                    if first is None:
                        first = time.perf_counter()
                        is_open = True
                        gauge[0] += 1
                        gauge[1] = max(gauge[1], gauge[0])
                if is_open:
                    is_open = False
                    gauge[0] -= 1
            else:
                data += await reader.readexactly(length)
                first = time.perf_counter()
            ok = b" 200 " in status and (route.stream_end if stream else route.whole_mark) in data
            if not ok:
                errors.append(f"{status!r} {bytes(data[:200])!r}")
            elif first is not None:
                ttfts.append(first - started)
    except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
        errors.append(repr(exc))
    finally:
        if is_open:
            gauge[0] -= 1
        writer.close()


async def load(
    url: str,
    stream: bool,
    concurrency: int,
    requests: int,
    cafile: str | None,
    route_name: str = "chat",
) -> dict[str, Any]:
    """``requests`` requests to ``url`` (a base URL: the route's path is added)."""
    route = ROUTES[route_name]
    url = url.rstrip("/") + route.path
    body = json.dumps({**route.body, "stream": stream}).encode()
    ctx = ssl.create_default_context(cafile=cafile) if url.startswith("https") else None
    jobs = list(range(requests))
    ttfts: list[float] = []
    errors: list[str] = []
    gauge = [0, 0]
    started = time.perf_counter()
    await asyncio.gather(
        *(
            one_connection(url, body, stream, route, jobs, ttfts, errors, ctx, gauge)
            for _ in range(min(concurrency, requests))
        )
    )
    seconds = time.perf_counter() - started
    ttfts.sort()
    return {
        "seconds": seconds,
        "done": len(ttfts),
        "errors": len(errors),
        "error_sample": errors[:3],
        "ttft_p50": statistics.median(ttfts) if ttfts else None,
        "ttft_p99": ttfts[min(len(ttfts) - 1, int(len(ttfts) * 0.99))] if ttfts else None,
        "open_peak": gauge[1] if stream else None,
    }
