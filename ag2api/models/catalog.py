"""The models clients may use: live from fetchAvailableModels (cached, refreshed when stale),
else the configured list; and the upstream model a client's name resolves to among them."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from ag2api.config.schema import GatewayConfig
from ag2api.errors import InvalidRequest, ModelNotFound
from ag2api.models.aliases import pick, resolve
from ag2api.models.entries import ModelEntry, parse_available_models, vendor_of

log = logging.getLogger("ag2api.catalog")

# After a failed live fetch, serve the configured list this long before asking again.
RETRY_AFTER_FAILURE = 30.0


class ModelCatalog:
    def __init__(self, fetch: Callable[[GatewayConfig], Awaitable[dict[str, Any]]]) -> None:
        self._fetch = fetch
        self._live: tuple[ModelEntry, ...] = ()
        self._live_at = 0.0
        self._failed_at = 0.0
        self._inflight: asyncio.Future[None] | None = None
        self.created = int(time.time())
        self.source = "configured"
        self._ids_of: tuple[ModelEntry, ...] | None = None
        self._ids_made: tuple[str, ...] = ()

    async def entries(self, cfg: GatewayConfig) -> tuple[ModelEntry, ...]:
        now = time.monotonic()
        fresh = self._live and now - self._live_at < cfg.models.cache_ttl
        if not fresh and now - self._failed_at >= RETRY_AFTER_FAILURE:
            if self._inflight is None:
                self._inflight = asyncio.ensure_future(self._refresh(cfg))
            inflight = self._inflight
            await asyncio.shield(inflight)
        if self._live:
            return self._live
        return tuple(ModelEntry(m, vendor_of(m)) for m in cfg.models.fallback)

    async def _refresh(self, cfg: GatewayConfig) -> None:
        try:
            live = parse_available_models(await self._fetch(cfg))
        except Exception as exc:  # any failure means "use the configured list for now"
            self._failed_at = time.monotonic()
            self.source = "configured"
            log.warning("live model list unavailable, serving the configured list: %s", exc)
        else:
            if live:
                self._live, self._live_at, self.source = live, time.monotonic(), "live"
            else:
                self._failed_at = time.monotonic()
        finally:
            self._inflight = None

    def _ids(self, entries: tuple[ModelEntry, ...]) -> tuple[str, ...]:
        """The ids of ``entries``, made once per list (every request resolves its model)."""
        if entries is not self._ids_of:
            self._ids_of, self._ids_made = entries, tuple(entry.id for entry in entries)
        return self._ids_made

    async def listed(self, cfg: GatewayConfig) -> tuple[ModelEntry, ...]:
        """What /v1/models shows: the upstream models, then the configured aliases."""
        entries = await self.entries(cfg)
        owners = {e.id: e.owned_by for e in entries}
        aliases = tuple(
            ModelEntry(alias.pattern, owners.get(target, vendor_of(target)), alias_of=target)
            for alias in cfg.models.aliases
            if alias.exact
            and alias.pattern not in owners
            and (target := pick(alias.targets, tuple(owners))) is not None
        )
        return entries + aliases

    async def resolve(self, cfg: GatewayConfig, name: Any) -> str:
        """The upstream model id for ``name`` (an alias or a listed model), or ModelNotFound."""
        if not isinstance(name, str) or not name:
            raise InvalidRequest("'model' must be a non-empty string", param="model")
        models = cfg.models
        exact = next((a for a in models.aliases if a.exact and a.pattern == name), None)
        if exact is not None and (target := pick(exact.targets, ())) is not None:
            return target  # a fixed alias needs no model list
        listed = self._ids(await self.entries(cfg))
        target = resolve(name, listed, models.aliases, defaults=models.default_aliases)
        if target is None:
            raise ModelNotFound(name)
        return target
