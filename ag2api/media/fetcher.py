"""Remote ``image_url``s of a chat request, fetched and inlined as data URLs, within limits.

Per request: at most ``images.max_images`` URLs and ``images.max_total_bytes`` bytes, and
``images.concurrency`` fetches at once; for the whole gateway ``images.concurrency_total`` fetches
at once, on a client of their own so they never take the upstream's connection slots. Every URL is
checked (:mod:`ag2api.media.urls`) before any is fetched; the fetches run in one task group, so
the first failure, or the request being cancelled (client gone), stops all the others at once.
"""

from __future__ import annotations

import asyncio
import base64
import socket
from collections.abc import Coroutine
from ipaddress import ip_address
from typing import Any
from urllib.parse import urljoin

from ag2api.config.schema import ImagesConfig
from ag2api.errors import GatewayError, InvalidRequest
from ag2api.media.addresses import IP, is_public, resolve_entry
from ag2api.media.transfer import REDIRECTS, ByteBudget, FetchFailed, get
from ag2api.media.urls import ImageUrl, parse_image_url
from ag2api.translate.dialect import RemoteImage
from ag2api.translate.openai_chat.request import remote_images
from ag2api.upstream.transport import AbortableCurlClient

MAX_REDIRECTS = 3


class ImageFetchError(InvalidRequest):
    def __init__(self, where: str, reason: str) -> None:
        super().__init__(f"{where}: {reason}", param="messages")


async def all_or_first_failure(jobs: list[Coroutine[Any, Any, str]]) -> list[str] | GatewayError:
    """Run ``jobs`` in one task group: every result, or the failure that cancelled the others.

    The failure is returned rather than raised from here: this frame holds the group, whose
    parent task holds the failure, so raising it through this frame would make a reference cycle
    (with every image fetched so far) that only the cycle collector frees, and the gateway runs
    that rarely (server/gc.py).
    """
    try:
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(job) for job in jobs]
    except BaseExceptionGroup as failed:
        # TaskGroup.__aexit__ (3.11) keeps the group in a local of its own frame, which the
        # group's traceback holds: the same kind of cycle.
        failed.__traceback__ = None
        first = failed.exceptions[0]
        if isinstance(first, GatewayError):
            return first
        raise  # a bug stays a bug
    return [task.result() for task in tasks]


class ImageFetcher:
    def __init__(self, http: AbortableCurlClient) -> None:
        self._http = http  # the fetch client (not the upstream's)
        self._overall: asyncio.Semaphore | None = None
        self._overall_limit = 0

    def close(self) -> None:
        self._http.close()

    async def inline_remote_images(
        self, body: dict[str, Any], cfg: ImagesConfig, proxy: str | None
    ) -> int:
        """Replace http(s) image URLs in an OpenAI chat ``body`` (in place) by data URLs."""
        return await self.inline(remote_images(body), cfg, proxy)

    async def inline(self, images: list[RemoteImage], cfg: ImagesConfig, proxy: str | None) -> int:
        """Fetch every image (bounded, all cancelled when one fails) and ``place`` each data URL;
        how many there were. With ``fetch_remote`` off nothing is fetched and the translation
        refuses the URLs."""
        if not images or not cfg.fetch_remote:
            return 0
        if len(images) > cfg.max_images:
            raise InvalidRequest(
                f"{len(images)} remote image URLs in one request; the gateway fetches at most "
                f"{cfg.max_images} (send the others inline as base64)",
                param="messages",
            )
        targets = [(image.where, self._parsed(image.url, image.where)) for image in images]
        budget = ByteBudget(cfg.max_total_bytes)
        per_request = asyncio.Semaphore(cfg.concurrency)
        overall = self._overall_slots(cfg.concurrency_total)

        async def one(where: str, target: ImageUrl) -> str:
            async with per_request, overall:
                return await self.fetch(target, where, cfg, proxy, budget)

        fetched = await all_or_first_failure([one(where, target) for where, target in targets])
        if isinstance(fetched, GatewayError):
            try:
                raise fetched
            finally:
                del fetched  # its traceback holds this frame (a reference cycle)
        for image, data_url in zip(images, fetched, strict=True):
            image.place(data_url)
        return len(images)

    def _overall_slots(self, limit: int) -> asyncio.Semaphore:
        # A reload that changes the limit starts a new semaphore; fetches holding the old one
        # finish on it (for that moment the two limits add up).
        if self._overall is None or limit != self._overall_limit:
            self._overall, self._overall_limit = asyncio.Semaphore(limit), limit
        return self._overall

    @staticmethod
    def _parsed(url: str, where: str) -> ImageUrl:
        try:
            return parse_image_url(url)
        except ValueError as exc:
            raise ImageFetchError(where, str(exc)) from exc

    async def fetch(
        self, target: ImageUrl, where: str, cfg: ImagesConfig, proxy: str | None, budget: ByteBudget
    ) -> str:
        """The image at ``target`` as a data URL, following up to three checked redirects."""
        for _ in range(MAX_REDIRECTS + 1):
            pin = await self._pin(target, where, cfg)
            try:
                answer = await get(self._http, target, pin, cfg, proxy, budget)
            except FetchFailed as exc:
                raise ImageFetchError(where, str(exc)) from exc
            location = answer.headers.get("Location")
            if answer.status in REDIRECTS and location:
                target = self._parsed(urljoin(target.url, location), f"{where} (redirected)")
                continue
            if answer.status != 200:
                raise ImageFetchError(where, f"fetching the image gave HTTP {answer.status}")
            if not answer.mime.startswith("image/"):
                raise ImageFetchError(
                    where, f"the URL is not an image (Content-Type {answer.mime!r})"
                )
            return f"data:{answer.mime};base64,{base64.b64encode(answer.body).decode()}"
        raise ImageFetchError(where, f"more than {MAX_REDIRECTS} redirects")

    async def _pin(self, target: ImageUrl, where: str, cfg: ImagesConfig) -> str | None:
        """Check the addresses ``target`` reaches; the RESOLVE entry that pins them (None for an
        IP literal, which libcurl does not resolve)."""
        if target.literal is not None:
            self._check(target.host, [target.literal], where, cfg)
            return None
        try:
            async with asyncio.timeout(cfg.timeout):
                infos = await asyncio.get_running_loop().getaddrinfo(
                    target.host, target.port, type=socket.SOCK_STREAM
                )
        except (OSError, TimeoutError) as exc:
            raise ImageFetchError(where, f"cannot resolve {target.host}: {exc}") from exc
        addresses: list[IP] = []
        for info in infos:
            address = ip_address(str(info[4][0]).split("%")[0])
            if address not in addresses:
                addresses.append(address)
        self._check(target.host, addresses, where, cfg)
        return resolve_entry(target.host, target.port, addresses)

    @staticmethod
    def _check(host: str, addresses: list[IP], where: str, cfg: ImagesConfig) -> None:
        if cfg.allow_private:
            return
        for address in addresses:
            if not is_public(address):
                raise ImageFetchError(
                    where, f"{host} resolves to a non-public address ({address}); refused"
                )
