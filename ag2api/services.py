"""The shared objects of one running gateway, built once and reached through app settings."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

from ag2api.accounts.model import Account, OAuthConfig
from ag2api.accounts.pool import NO_ACCOUNT_HELP, AccountPool
from ag2api.accounts.refresh import TokenRefresher
from ag2api.accounts.slots import SlotLimiter
from ag2api.accounts.store import TokensFile, read_tokens
from ag2api.accounts.writer import TokenWriter
from ag2api.catalog import ModelCatalog
from ag2api.config.live import LiveConfig, Overrides
from ag2api.config.schema import GatewayConfig
from ag2api.dispatch import Dispatcher, settings_for
from ag2api.inflight import InFlight
from ag2api.media import ImageFetcher
from ag2api.translate.signatures import SignatureCache
from ag2api.upstream.client import MODELS_PATH, AntigravityClient
from ag2api.upstream.transport import AbortableCurlClient, make_client

log = logging.getLogger("ag2api")


@dataclass
class Services:
    config: LiveConfig
    pool: AccountPool
    writer: TokenWriter
    refresher: TokenRefresher
    http: AbortableCurlClient
    dispatcher: Dispatcher
    catalog: ModelCatalog
    oauth: OAuthConfig | None
    signatures: SignatureCache = field(default_factory=SignatureCache)
    in_flight: InFlight = field(default_factory=InFlight)
    images: ImageFetcher | None = None
    signatures: SignatureCache = field(default_factory=SignatureCache)
    in_flight: InFlight = field(default_factory=InFlight)
    images: ImageFetcher | None = None
    started_at: float = field(default_factory=time.time)
    tokens_error: str | None = None
    tokens_error_at: float | None = None

    async def fetch_models(self, cfg: GatewayConfig) -> dict[str, Any]:
        settings = settings_for(cfg)

        async def call(base: str, token: str, account: Account) -> dict[str, Any]:
            return await self.dispatcher.client.post_json(
                base, MODELS_PATH, token, {"project": account.project_id}, settings
            )

        return await self.dispatcher.any_account(cfg, call)

    async def aclose(self) -> None:
        await self.writer.aclose()
        self.http.close()


def build_services(
    cfg: GatewayConfig, tokens: TokensFile | None = None, overrides: Overrides | None = None
) -> Services:
    """Wire everything from one config snapshot; call inside the running event loop."""
    tokens_error = None
    if tokens is None:
        try:
            tokens = read_tokens(cfg.tokens_file)
        except ValueError as exc:
            # Start anyway so /health can say what is wrong; nothing is written over the file.
            log.error("%s", exc)
            tokens, tokens_error = TokensFile(None, ()), str(exc)
    if not tokens.accounts and tokens_error is None:
        log.warning("no Google accounts in %s. %s", cfg.tokens_file, NO_ACCOUNT_HELP)
    http = make_client(cfg.upstream.max_connections)
    writer = TokenWriter(cfg.tokens_file)
    pool = AccountPool(tokens.accounts, cfg.rotation.count)
    live = LiveConfig(cfg, overrides)

    def refreshed(account: Account) -> None:
        writer.record(
            account.project_id,
            access_token=account.access_token,
            expires_at=int(account.expires_at),
            refresh_token=account.refresh_token,
        )

    refresher = TokenRefresher(
        http, lambda: services.oauth, refreshed, proxy=lambda: live.current.upstream.proxy
    )
    slots = SlotLimiter(cfg.limits.per_account, cfg.limits.total)
    dispatcher = Dispatcher(pool, slots, refresher, AntigravityClient(http), writer)
    services = Services(
        live,
        pool,
        writer,
        refresher,
        http,
        dispatcher,
        ModelCatalog(lambda c: services.fetch_models(c)),
        tokens.oauth,
        tokens_error=tokens_error,
        tokens_error_at=time.time() if tokens_error else None,
        images=ImageFetcher(http),
    )
    return services
