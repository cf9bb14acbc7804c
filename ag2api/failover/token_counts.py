"""Token counting for every dialect: upstream countTokens, a short cache, a local fallback."""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections import OrderedDict
from typing import Any

from ag2api import jsoncodec
from ag2api.accounts.model import Account
from ag2api.accounts.proxies import routed
from ag2api.config.schema import GatewayConfig
from ag2api.failover.dispatcher import Dispatcher, settings_for
from ag2api.translate.gemini.count import count_from_response, estimate
from ag2api.upstream.client import COUNT_TOKENS_PATH

log = logging.getLogger("ag2api.count")


class TokenCountCache:
    """Recent count_tokens answers by body hash: Claude Code's VS Code extension sends dozens of
    identical counts at start, and a count does not change within seconds."""

    def __init__(self, ttl: float = 30.0, capacity: int = 1024) -> None:
        self._ttl = ttl
        self._capacity = capacity
        self._items: OrderedDict[bytes, tuple[float, int]] = OrderedDict()

    def get(self, key: bytes, now: float) -> int | None:
        hit = self._items.get(key)
        if hit is None or now - hit[0] > self._ttl:
            return None
        return hit[1]

    def put(self, key: bytes, value: int, now: float) -> None:
        self._items[key] = (now, value)
        self._items.move_to_end(key)
        while len(self._items) > self._capacity:
            self._items.popitem(last=False)


class TokenCounter:
    """countTokens for any dialect: the upstream count of a ``{"request": {...}}`` body, cached
    briefly, else a local estimate. Never an error and never a change to an account's health
    (a failed count neither cools nor disables: ``Dispatcher.side_call``)."""

    def __init__(self, dispatcher: Dispatcher, cache: TokenCountCache | None = None) -> None:
        self._dispatcher = dispatcher
        self.cache = cache or TokenCountCache()
        # Identical counts arriving together (an IDE extension starting) share one upstream call.
        self._inflight: dict[bytes, asyncio.Future[int]] = {}

    async def count(self, cfg: GatewayConfig, body: dict[str, Any]) -> int:
        key = hashlib.blake2b(jsoncodec.dumps_bytes(body), digest_size=16).digest()
        counted = self.cache.get(key, self._dispatcher.clock.monotonic())
        if counted is not None:
            return counted
        pending = self._inflight.get(key)
        if pending is None:
            pending = asyncio.ensure_future(self._upstream(cfg, body))
            self._inflight[key] = pending
            pending.add_done_callback(lambda _: self._inflight.pop(key, None))
        # shield: a client that leaves does not cancel the count the others wait for.
        counted = await asyncio.shield(pending)
        self.cache.put(key, counted, self._dispatcher.clock.monotonic())
        return counted

    async def _upstream(self, cfg: GatewayConfig, body: dict[str, Any]) -> int:
        dispatcher = self._dispatcher
        settings = settings_for(cfg)

        async def call(base: str, token: str, account: Account) -> dict[str, Any]:
            return await dispatcher.client.post_json(
                base, COUNT_TOKENS_PATH, token, body, routed(settings, account)
            )

        try:
            total = count_from_response(await dispatcher.side_call(cfg, call))
        except Exception as exc:  # any failure: the estimate answers instead
            log.info("countTokens upstream failed, answering an estimate: %s", exc)
            total = None
        return total if total is not None else estimate(body)
