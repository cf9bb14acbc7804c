"""The shared objects of one running gateway, built once and reached through app settings."""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from prometheus_client.core import GaugeMetricFamily

from ag2api.accounts.crypto import PLAINTEXT, TokenCipher, load_cipher
from ag2api.accounts.model import Account, OAuthConfig
from ag2api.accounts.pool import NO_ACCOUNT_HELP, AccountPool
from ag2api.accounts.proxies import routed
from ag2api.accounts.recheck import Rechecker
from ag2api.accounts.refresh import TokenRefresher
from ag2api.accounts.slots import SlotLimiter
from ag2api.accounts.store import TokensFile, TokensPathError, read_tokens, tokens_document
from ag2api.accounts.writer import LAZY_INTERVAL, TokenWriter
from ag2api.config.live import LiveConfig, Overrides
from ag2api.config.schema import GatewayConfig
from ag2api.failover.dispatcher import Dispatcher, settings_for
from ag2api.failover.recheck_probe import load_code_assist
from ag2api.failover.token_counts import TokenCounter
from ag2api.logs.requestlog import RequestLog
from ag2api.media import ImageFetcher
from ag2api.models.catalog import ModelCatalog
from ag2api.observe.content_rejections import RecentRejections
from ag2api.observe.metrics import Metrics
from ag2api.observe.open_requests import OpenRequests
from ag2api.observe.usage import UsageRecorder
from ag2api.observe.watch_status import WatchStatus
from ag2api.quota.book import AccountQuota
from ag2api.quota.gauges import quota_gauges
from ag2api.quota.monitor import QuotaMonitor
from ag2api.quota.wire import LOAD_CODE_ASSIST_PATH, SUMMARY_PATH
from ag2api.redact import mask
from ag2api.state.backends import make_state
from ag2api.state.base import AccountState
from ag2api.state.records import ResponseStore
from ag2api.translate.signatures import SignatureCache, ThinkingRecord
from ag2api.upstream.client import MODELS_PATH, AntigravityClient
from ag2api.upstream.curl_multi import CurlMulti
from ag2api.upstream.transport import AbortableCurlClient, make_client

log = logging.getLogger("ag2api")
OAUTH_CONNECTIONS = 16
SIGNATURES = "thinking"  # the state's record kind for Claude thinking blocks
SIGNATURE_TTL = 7200.0


def load_code_assist_body(account: Account) -> dict[str, Any]:
    """What the IDE sends (docs/protocol.md §4.3); the answer holds the account's credits."""
    return {"metadata": {"ideType": "ANTIGRAVITY"}}


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
    images: ImageFetcher
    usage: UsageRecorder
    request_log: RequestLog
    metrics: Metrics = field(init=False)
    quota: QuotaMonitor = field(init=False)
    # Brings back accounts whose cause passed (verification done, proxy working again).
    recheck: Rechecker = field(init=False)
    # Stored Responses API answers (previous_response_id, GET/DELETE /v1/responses/{id}).
    responses: ResponseStore = field(init=False)
    signatures: SignatureCache = field(default_factory=SignatureCache)
    token_counter: TokenCounter = field(init=False)
    open_requests: OpenRequests = field(default_factory=OpenRequests)
    # The latest requests whose system prompt the upstream refused (for /admin).
    content_rejections: RecentRejections = field(default_factory=RecentRejections)
    tokens_error: str | None = None
    tokens_error_at: float | None = None
    # The hot-reload watcher (ag2api.server.watch), as /health shows it.
    watch: WatchStatus = field(default_factory=WatchStatus)
    # Opens and seals the tokens in tokens.json (and Redis) when a key is set.
    cipher: TokenCipher = PLAINTEXT
    tokens_digest: str | None = None  # sha256 of tokens.json as the pool was built from it

    def __post_init__(self) -> None:
        self.metrics = Metrics(self.live_gauges)
        verdicts = self.dispatcher.verdicts
        self.recheck = Rechecker(
            lambda: self.pool.accounts,
            lambda account: load_code_assist(self.dispatcher, self.config.current, account),
            verdicts.enable,
            verdicts.redisable,
            lambda: self.config.current.accounts.recheck_seconds,
            # With replicas only the one that writes tokens.json (the leader) rechecks.
            active=lambda: self.writer.gate(),
        )
        self.token_counter = TokenCounter(self.dispatcher)
        # Read on each use: a reload of responses.* applies at once.
        self.responses = self.state.response_store(lambda: self.config.current.responses)
        self.quota = QuotaMonitor(
            self.fetch_account_models,
            self.enabled_projects,
            self.usage.save_quota,
            summary=self._account_call(
                SUMMARY_PATH, lambda account: {"project": account.project_id}
            ),
            credits=self._account_call(LOAD_CODE_ASSIST_PATH, load_code_assist_body),
            wants_credits=self.uses_credits,
            on_checked=self.quota_checked,
            clock=lambda: self.pool.clock(),  # the pool's, even when a test sets another
        )
        verdicts = self.dispatcher.verdicts
        verdicts.quota_left = self.quota.remaining
        verdicts.on_429 = self.quota.recheck
        verdicts.stop_credits = self.quota.book.stop_credits
        self.dispatcher.picker.quota = self.quota.book

    def uses_credits(self, project_id: str) -> bool:
        """Whether the account may spend credits (its own "use_credits", else the config's)."""
        account = self.pool.get(project_id)
        if account is not None and account.use_credits is not None:
            return account.use_credits
        return self.config.current.accounts.use_credits

    def quota_checked(self, project_id: str, quota: AccountQuota) -> None:
        """A model the check shows used up is skipped until its reset, pool-wide (a cooldown:
        only ever extended)."""
        account = self.pool.get(project_id)
        if account is None:
            return
        book, now, changed = self.quota.book, self.pool.clock(), False
        for model in quota.models:
            out = book.exhausted_until(project_id, model.model)
            if out is not None:
                changed |= self.state.cool(account, model.model, out[0] - now, out[1])
        if changed:
            self.dispatcher.verdicts.persist_cooldowns(account)

    def _account_call(
        self, path: str, body: Callable[[Account], dict[str, Any]]
    ) -> Callable[[str], Awaitable[dict[str, Any]]]:
        """One housekeeping call on one account (its quota summary, its credits)."""

        async def fetch(project_id: str) -> dict[str, Any]:
            cfg = self.config.current
            account = self.pool.get(project_id)
            if account is None:
                raise LookupError("the account is gone")
            settings = settings_for(cfg)

            async def call(base: str, token: str, account: Account) -> dict[str, Any]:
                return await self.dispatcher.client.post_json(
                    base, path, token, body(account), settings
                )

            return await self.dispatcher.call_account(cfg, account, call)

        return fetch

    async def fetch_models(self, cfg: GatewayConfig) -> dict[str, Any]:
        """fetchAvailableModels through any enabled account (for /v1/models)."""
        return await self.dispatcher.any_account(cfg, self._models_call(cfg))

    async def fetch_account_models(self, project_id: str) -> dict[str, Any]:
        """fetchAvailableModels for one account (its quota)."""
        cfg = self.config.current
        account = self.pool.get(project_id)
        if account is None:
            raise LookupError("the account is gone")
        return await self.dispatcher.call_account(cfg, account, self._models_call(cfg))

    def _models_call(self, cfg: GatewayConfig) -> Any:
        settings = settings_for(cfg)

        async def call(base: str, token: str, account: Account) -> dict[str, Any]:
            return await self.dispatcher.client.post_json(
                base, MODELS_PATH, token, {"project": account.project_id}, routed(settings, account)
            )

        return call

    @property
    def state(self) -> AccountState:
        return self.dispatcher.state

    # Claude thinking records made on one replica are replayed by any.
    def share_signature(self, call_id: str, record: ThinkingRecord) -> None:
        shared = {"text": record.text, "signature": record.signature}
        self.state.records.share(SIGNATURES, call_id, shared, SIGNATURE_TTL)

    def signature_lookup(self, missing: list[str]) -> Callable[[str], ThinkingRecord | None]:
        """The cache's lookup, noting the ids it lacks in ``missing``."""

        def get(call_id: str) -> ThinkingRecord | None:
            record = self.signatures.get(call_id)
            if record is None:
                missing.append(call_id)
            return record

        return get

    async def recall_signatures(self, call_ids: list[str]) -> bool:
        """Fetch records this replica lacks into its cache; True when any was found."""
        records = self.state.records
        found = await asyncio.gather(*(records.fetch(SIGNATURES, c) for c in call_ids))
        for call_id, data in zip(call_ids, found, strict=True):
            if data is not None:
                self.signatures.remember(call_id, ThinkingRecord(data["text"], data["signature"]))
        return any(v is not None for v in found)

    def enabled_projects(self) -> list[str]:
        return self.state.enabled_projects()

    def live_gauges(self) -> Iterator[GaugeMetricFamily]:
        """Account states, cooldowns, quota, slots and config health, read at scrape time."""
        snap = self.state.snapshot()
        states = GaugeMetricFamily("ag2api_accounts", "Accounts by state", labels=["state"])
        until = GaugeMetricFamily(
            "ag2api_account_cooldown_until_seconds",
            "When a cooling (account, model) recovers (epoch seconds)",
            labels=["project", "model"],
        )
        cooling = set()
        for view in snap.accounts:
            for c in view.cooling:
                cooling.add(view.project_id)
                until.add_metric([mask(view.project_id), c.model], c.until)
        for state, count in (
            ("enabled", snap.enabled),
            ("disabled", snap.disabled),
            ("cooling", len(cooling)),
        ):
            states.add_metric([state], count)
        yield states
        yield until
        yield from quota_gauges(self.quota.book)
        yield GaugeMetricFamily(
            "ag2api_upstream_in_flight",
            "Upstream calls in flight",
            value=snap.in_flight,
        )
        health = snap.health
        yield GaugeMetricFamily(
            "ag2api_state_backend_ok",
            "1 while the live-state backend answers (always 1 for memory)",
            value=1 if health.ok else 0,
        )
        yield GaugeMetricFamily(
            "ag2api_config_error",
            "1 while the last config edit is refused",
            value=1 if self.config.last_error else 0,
        )

    async def aclose(self) -> None:
        await self.recheck.stop()
        await self.quota.stop()
        await self.usage.aclose()  # pushes and drains through the state backend: before it closes
        await self.state.aclose()
        await self.writer.aclose()
        self.request_log.close()
        self.http.close()
        self.dispatcher.client.close()
        self.images.close()


def build_services(
    cfg: GatewayConfig, tokens: TokensFile | None = None, overrides: Overrides | None = None
) -> Services:
    """Wire everything from one config snapshot; call inside the running event loop.

    Raises BadKey when the key set for the tokens is unusable."""
    tokens_error = None
    cipher = load_cipher(os.environ, cfg.secrets.key_file)
    if tokens is None:
        try:
            tokens = read_tokens(cfg.tokens_file, cipher)
        except TokensPathError:
            raise  # not a file at all (often a Docker bind mount gone wrong): app.serve refuses
        except ValueError as exc:
            # Start anyway so /health can say what is wrong; nothing is written over the file.
            log.error("%s", exc)
            tokens, tokens_error = TokensFile(None, ()), str(exc)
    if tokens.unreadable is not None:
        log.error("%s", tokens.unreadable)
        tokens_error = tokens.unreadable
    if not tokens.accounts and tokens_error is None:
        log.warning("no Google accounts in %s. %s", cfg.tokens_file, NO_ACCOUNT_HELP)
    # Tornado's client carries only OAuth refreshes (single-flight per account); it builds
    # all its curl handles up front, so a few, not upstream.max_connections of them.
    http = make_client(OAUTH_CONNECTIONS)
    writer = TokenWriter(
        cfg.tokens_file,
        snapshot=lambda: tokens_document(services.oauth, services.pool.accounts),
        lazy_interval=LAZY_INTERVAL,
    )
    writer.cipher = cipher
    pool = AccountPool(tokens.accounts, cfg.rotation.count)
    live = LiveConfig(cfg, overrides)

    def refreshed(account: Account) -> None:
        writer.record(
            account.project_id,
            access_token=account.access_token,
            expires_at=int(account.expires_at),
            refresh_token=account.refresh_token,
            # The OAuth client found at this refresh, when not the default (else no field).
            **({"client_id": account.client_id} if account.client_id else {}),
        )

    state = make_state(
        cfg, pool, SlotLimiter(cfg.limits.per_account, cfg.limits.total), writer, cipher
    )
    refresher = TokenRefresher(
        http,
        lambda: services.oauth,
        refreshed,
        proxy=lambda: live.current.upstream.proxy,
        ca_file=lambda: (
            str(live.current.upstream.ca_file) if live.current.upstream.ca_file else None
        ),
        observe=lambda result: services.metrics.refreshes.labels(result).inc(),
        connect_timeout=lambda: live.current.upstream.timeouts.connect,
        tokens=state,
    )
    upstream = AntigravityClient(CurlMulti(cfg.upstream.max_connections))
    dispatcher = Dispatcher(state, refresher, upstream, writer)
    obs = cfg.observability
    services = Services(
        live,
        pool,
        writer,
        refresher,
        http,
        dispatcher,
        ModelCatalog(lambda c: services.fetch_models(c)),
        tokens.oauth,
        # Image fetches get a client of their own: they never take the upstream's slots.
        images=ImageFetcher(make_client(cfg.images.concurrency_total)),
        usage=UsageRecorder(cfg.usage_db, obs.usage_flush_seconds, state.usage_counters),
        request_log=RequestLog(
            obs.request_log_file, obs.request_log_max_bytes, obs.request_log_backups
        ),
        tokens_error=tokens_error,
        tokens_error_at=time.time() if tokens_error else None,
        cipher=cipher,
        tokens_digest=tokens.digest,
    )
    return services
