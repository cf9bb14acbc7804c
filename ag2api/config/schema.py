"""The gateway configuration as frozen dataclasses, with the documented defaults.

Every default here is also written, commented, in ``conf/gateway.yaml``. A setting read only
when the gateway starts carries ``metadata=RESTART``: a live edit of it is reported as needing a
restart (:mod:`ag2api.config.restart`) instead of being silently ignored.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from functools import cached_property
from ipaddress import IPv4Network, IPv6Network, ip_address
from pathlib import Path
from types import MappingProxyType

from ag2api.upstream.sensitive_words import PhraseMatcher

MIB = 1024 * 1024

DEFAULT_BASE_URLS = (
    "https://daily-cloudcode-pa.googleapis.com",
    "https://cloudcode-pa.googleapis.com",
)
DEFAULT_USER_AGENT = "antigravity/hub/2.9.1 darwin/arm64"
# Phrases the backend is reported to refuse in an agent request's system instruction (each with
# its source in conf/gateway.yaml); U+200B after a match's first character lets it through.
DEFAULT_SENSITIVE_WORDS = (
    "Claude Agent SDK",
    "Codex, an agent based on GPT-5",
    "Hermes Agent",
    "Nous Research",
    "RFC 2119: MUST, REQUIRED",
)


def is_loopback(host: str) -> bool:
    """Only this machine can reach ``host`` (a name or an address, as configured or bound)."""
    if host == "localhost":
        return True
    try:
        address = ip_address(host)
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)  # ::ffff:127.0.0.1
    return (mapped or address).is_loopback


HASH_PREFIX = "sha256:"

# Read once at start; a live edit takes effect after a restart.
RESTART = MappingProxyType({"restart": True})


GLOB = re.compile(r"[*?\[]")  # a model name with any of these is a glob


@dataclass(frozen=True)
class Alias:
    """A client model name (exact or glob) and the upstream models it means, tried in order."""

    pattern: str  # an exact client name or a glob
    targets: tuple[str, ...]  # model ids or globs over the listed models, tried in order

    def matches(self, name: str) -> bool:
        if GLOB.search(self.pattern):
            return fnmatchcase(name, self.pattern)
        return name == self.pattern

    @property
    def exact(self) -> bool:
        return not GLOB.search(self.pattern)


@dataclass(frozen=True)
class KeyPolicy:
    """What one client key may do (``api_keys[].policy``, or ``defaults.policy``). None: no
    limit. Tokens are input + output tokens as the upstream reports them."""

    # Model name globs the key may use (and sees in the model lists); None: every model.
    models: tuple[str, ...] | None = None
    rpm: int | None = None  # requests per minute (sliding 60 s window)
    tpm: int | None = None  # tokens per minute (sliding 60 s window)
    max_concurrent: int | None = None  # requests in flight at once
    daily_tokens: int | None = None  # per UTC day
    monthly_tokens: int | None = None  # per UTC calendar month
    # Epoch seconds from which the key is refused (a date means: valid through that UTC day).
    expires: float | None = None
    enabled: bool = True
    # Whether models.fallbacks may serve this key's requests when the asked model cannot.
    fallbacks: bool = True

    @property
    def has_limits(self) -> bool:
        return not (  # read on every request: no generator
            self.rpm is None
            and self.tpm is None
            and self.max_concurrent is None
            and self.daily_tokens is None
            and self.monthly_tokens is None
        )

    def allows(self, model: str) -> bool:
        return self.models is None or any(fnmatchcase(model, glob) for glob in self.models)


NO_POLICY = KeyPolicy()


@dataclass(frozen=True)
class ApiKey:
    # The key itself, or ``sha256:<64 hex>`` of it (the config file then holds no usable secret).
    key: str
    label: str
    policy: KeyPolicy | None = None  # None: ``defaults.policy`` applies

    @property
    def hashed(self) -> bool:
        return self.key.startswith(HASH_PREFIX)

    @cached_property
    def digest(self) -> str:
        """The sha256 hex of the key: what shared state and comparisons name it by."""
        if self.hashed:
            return self.key[len(HASH_PREFIX) :]
        return hashlib.sha256(self.key.encode("utf-8")).hexdigest()

    @cached_property
    def ident(self) -> str:
        """A stable, non-reversible id for shared-state key names (never the key)."""
        return hashlib.sha256(b"ag2api-key:" + self.digest.encode()).hexdigest()[:24]


@dataclass(frozen=True)
class ServerConfig:
    host: str = field(default="127.0.0.1", metadata=RESTART)
    port: int = field(default=8000, metadata=RESTART)
    max_body_bytes: int = 20 * MIB
    cors_origins: tuple[str, ...] = ()
    # Seconds of upstream silence before a stream's headers go out / a `: keepalive` is sent.
    keepalive: float = 10.0
    # On SIGTERM/SIGINT, open streams get this long to finish.
    shutdown_grace: float = 30.0
    # Client connections (read at start): seconds a new connection has to send its headers,
    # seconds to receive a whole request body, seconds an idle keep-alive connection is kept,
    # and how many may be open at once (lowered to fit the open-file limit; more are closed).
    header_timeout: float = field(default=10.0, metadata=RESTART)
    body_timeout: float = field(default=120.0, metadata=RESTART)
    idle_timeout: float = field(default=120.0, metadata=RESTART)
    max_connections: int = field(default=2000, metadata=RESTART)
    # Open connections from one client address; over it, that address's slowest connection (the
    # longest waiting for its request headers) is closed first, or the new one when all of its
    # connections are busy with requests. Not applied to trusted_proxies (every client behind a
    # proxy shares its address).
    max_connections_per_client: int = 200
    # Processes serving the same port (pre-forked); more than 1 needs state.backend: redis.
    workers: int = field(default=1, metadata=RESTART)
    # Reverse proxies in front of the gateway (addresses or CIDR ranges): on connections from
    # them the client's address is read from X-Forwarded-For (for the admin key throttle).
    trusted_proxies: tuple[IPv4Network | IPv6Network, ...] = ()

    @property
    def is_loopback(self) -> bool:
        return is_loopback(self.host)


@dataclass(frozen=True)
class RotationConfig:
    count: int = 3


ROUTING_STRATEGIES = ("rotate", "fill", "balanced")


@dataclass(frozen=True)
class RoutingConfig:
    """Which account serves a request."""

    # rotate: round robin, rotation.count uses each; fill: the first account in tokens.json
    # order until it is out; balanced: the account with the most quota left for the model.
    strategy: str = "rotate"
    # Each turn of a conversation goes to the account that served its previous turn (its
    # prompt cache lives there) while that account can serve the model.
    affinity: bool = True
    # Seconds a conversation is remembered after its last turn.
    affinity_ttl: float = 3600.0


@dataclass(frozen=True)
class TimeoutConfig:
    connect: float = 10.0
    # Until the first body byte; for a non-stream request that is the whole answer.
    first_byte: float = 180.0
    # Longest silence between two chunks of a stream.
    idle: float = 120.0


@dataclass(frozen=True)
class UpstreamConfig:
    base_urls: tuple[str, ...] = DEFAULT_BASE_URLS
    user_agent: str = DEFAULT_USER_AGENT
    proxy: str | None = None
    timeouts: TimeoutConfig = field(default_factory=TimeoutConfig)
    # Upstream connections open at once (kept warm for reuse); more calls wait for one.
    max_connections: int = field(default=1000, metadata=RESTART)
    # Extra CA bundle (PEM) to trust upstream: a TLS-inspecting proxy, or a test upstream.
    ca_file: Path | None = None
    # Ask for gzip-compressed answers (as the IDE does). Off: "Accept-Encoding: identity", which
    # saves the decoder's ~50 KiB and some CPU per open stream; answers are small either way.
    gzip: bool = False
    # Literal phrases (case ignored) that get U+200B after their first character wherever they
    # occur in the system instruction sent upstream; (): none.
    sensitive_words: tuple[str, ...] = DEFAULT_SENSITIVE_WORDS

    @cached_property
    def sensitive_matcher(self) -> PhraseMatcher | None:
        """The phrases' matcher, built once per config snapshot (None: the list is empty)."""
        return PhraseMatcher.of(self.sensitive_words)


@dataclass(frozen=True)
class RetryConfig:
    """Failover before the first byte reaches the client (nothing is retried after it)."""

    # Upstream attempts for one request (each on an account, over its base URLs).
    attempts: int = 4
    # Total time a request may spend retrying before its error is returned.
    total_seconds: float = 30.0
    # A RATE_LIMIT_EXCEEDED 429 with at most this delay is retried on the same account (when no
    # other is free); longer ones cool the (account, model) down and fail over at once.
    short_rate_limit: float = 3.0
    # Cooldown when a 429 names no delay.
    default_cooldown: float = 60.0
    # QUOTA_EXHAUSTED cools until its reset, but at most this long; then one probe goes through.
    max_cooldown: float = 3600.0
    # Exponential backoff (with jitter) before retrying an account that already failed.
    backoff_base: float = 0.5
    backoff_max: float = 8.0


@dataclass(frozen=True)
class LimitsConfig:
    # Upstream calls in flight at once, per account and overall.
    per_account: int = 32
    total: int = 1000
    # A request waits this long for a free slot, then gets 503 with Retry-After.
    slot_wait: float = 10.0


@dataclass(frozen=True)
class DefaultsConfig:
    stream: bool = False
    # The policy of every api_keys entry that has none of its own.
    policy: KeyPolicy = NO_POLICY


@dataclass(frozen=True)
class ThinkingConfig:
    include_thoughts: bool
    budget: int | None = None
    level: str | None = None

    def to_gemini(self) -> dict[str, object]:
        out: dict[str, object] = {"includeThoughts": self.include_thoughts}
        if self.level is not None:
            out["thinkingLevel"] = self.level
        elif self.budget is not None:
            out["thinkingBudget"] = self.budget
        return out


@dataclass(frozen=True)
class ModelRule:
    """A model's thinking rule (an item of ``models.policies``): the first rule whose glob
    matches a model name applies."""

    match: str
    thinking: ThinkingConfig | None = None

    def matches(self, model: str) -> bool:
        return fnmatchcase(model, self.match)


DEFAULT_MODEL_RULES = (
    ModelRule("gemini-*", ThinkingConfig(include_thoughts=True, budget=-1)),
    ModelRule("claude-*-thinking", ThinkingConfig(include_thoughts=True, budget=1024)),
    ModelRule("claude-*", ThinkingConfig(include_thoughts=False, budget=0)),
)

DEFAULT_FALLBACK_MODELS = (
    "gemini-2.5-flash",
    "gemini-2.5-pro",
    "gemini-3-pro-high",
    "gemini-3-pro-low",
    "gemini-3-flash",
    "claude-sonnet-4-5",
    "claude-sonnet-4-5-thinking",
    "claude-opus-4-6-thinking",
    "gpt-oss-120b-medium",
)


@dataclass(frozen=True)
class Fallback:
    """Models (exact ids) that serve, in order, when none of the accounts can serve a model
    matching ``pattern`` (a glob)."""

    pattern: str
    models: tuple[str, ...]

    def matches(self, name: str) -> bool:
        return fnmatchcase(name, self.pattern)


@dataclass(frozen=True)
class ModelsConfig:
    policies: tuple[ModelRule, ...] = DEFAULT_MODEL_RULES
    # Served by /v1/models (and accepted by chat) when no account can list models live.
    fallback: tuple[str, ...] = DEFAULT_FALLBACK_MODELS
    # How long a live model list from fetchAvailableModels is reused.
    cache_ttl: float = 600.0
    # Names clients hard-code (e.g. "gpt-4o", "claude-opus-*") → upstream model ids or globs over
    # the listed models; exact names are listed by /v1/models.
    aliases: tuple[Alias, ...] = ()
    # The shipped aliases that map Claude Code's Anthropic ids (models/aliases.py), after these.
    default_aliases: bool = True
    # Model glob → models tried in order when no account can serve it within limits.slot_wait;
    # the first rule that matches applies; (): none.
    fallbacks: tuple[Fallback, ...] = ()

    def fallbacks_for(self, model: str) -> tuple[str, ...]:
        """The models that may serve instead of ``model``, in order (never ``model`` itself)."""
        for rule in self.fallbacks:
            if rule.matches(model):
                return tuple(m for m in dict.fromkeys(rule.models) if m != model)
        return ()

    def rule_for(self, model: str) -> ModelRule | None:
        """The first of ``policies`` (the file's key; each a :class:`ModelRule`) for ``model``."""
        for rule in self.policies:
            if rule.matches(model):
                return rule
        return None


@dataclass(frozen=True)
class ImagesConfig:
    """Remote ``image_url`` fetching (http/https URLs in user messages)."""

    fetch_remote: bool = True
    max_bytes: int = 10 * MIB
    timeout: float = 10.0
    # One request may not fetch more than this many images, nor more bytes in total.
    max_images: int = 32
    max_total_bytes: int = 40 * MIB
    # Fetches at once for one request, and for the whole gateway (its own connection pool).
    concurrency: int = 4
    concurrency_total: int = field(default=16, metadata=RESTART)
    # Private, loopback and link-local addresses are refused unless this is true (SSRF guard).
    allow_private: bool = False


@dataclass(frozen=True)
class WatchConfig:
    """The hot-reload watcher of gateway.yaml and tokens.json."""

    enabled: bool = field(default=True, metadata=RESTART)
    # Poll instead of waiting for file-system events (network and some container file systems).
    force_polling: bool = field(default=False, metadata=RESTART)


@dataclass(frozen=True)
class ObservabilityConfig:
    """Request log, usage statistics, metrics and the admin console."""

    # One JSON line per request also goes to this file (rotating); None: standard output only.
    request_log_file: Path | None = field(default=None, metadata=RESTART)
    request_log_max_bytes: int = field(default=10 * MIB, metadata=RESTART)
    request_log_backups: int = field(default=5, metadata=RESTART)
    # SQLite file for usage statistics; None: usage.sqlite3 beside the tokens file.
    usage_db: Path | None = field(
        default=None,
        # Where the store is follows tokens_file too (GatewayConfig.usage_db).
        metadata={**RESTART, "in_force": "usage_db"},
    )
    # Seconds between batched usage writes.
    usage_flush_seconds: float = field(default=2.0, metadata=RESTART)
    # /metrics needs the admin key when true (it holds no secrets, so it is open by default).
    metrics_require_admin: bool = False
    # Seconds between per-account quota checks (fetchAvailableModels, the quota summary, and
    # credits where they may be spent): what routing skips and balances on, and /admin shows.
    # A 429 also checks its account again.
    quota_refresh_seconds: float = 300.0


@dataclass(frozen=True)
class AdminConfig:
    """Sign-in to the admin page and guessing of the admin key."""

    # Seconds a page session lasts after sign-in (also ended by logout and by a new admin_key).
    session_lifetime: float = 43200.0
    # An address with this many wrong admin keys within login_window seconds gets 429 (its key
    # is not checked) until the oldest of them is login_window old.
    login_max_failures: int = 10
    login_window: float = 300.0


@dataclass(frozen=True)
class StateConfig:
    """Where the live account state (rotation, cooldowns, slots, tokens) lives."""

    # memory: in this process (one process; nothing to run). redis: shared by every worker and
    # replica on the same tokens.json (needs redis_url).
    backend: str = field(default="memory", metadata=RESTART)
    # redis://[:password@]host:6379/0, or rediss:// for TLS. Never logged with its password.
    redis_url: str | None = field(default=None, metadata=RESTART)
    # Prepended to every key, so several gateways (or tests) can share one Redis.
    key_prefix: str = field(default="ag:v1:", metadata=RESTART)
    # Seconds one Redis round trip may take before this process falls back to its local state.
    timeout: float = field(default=0.5, metadata=RESTART)
    # Seconds an account's slot hold and a client key's concurrency lease (max_concurrent) live
    # without renewal: each is renewed while its request runs, so a replica that dies frees its
    # slots and its keys' leases then.
    lease_seconds: float = field(default=60.0, metadata=RESTART)
    # Seconds between reads of the shared cooldowns and disables into the local view, and
    # between rounds of the shared account list (hosts with their own tokens.json).
    sync_seconds: float = field(default=1.0, metadata=RESTART)
    # This host's name in the shared account list (who changed an account); None: the hostname.
    host_name: str | None = field(default=None, metadata=RESTART)
    # Days a removed account's tombstone is kept in Redis: a host offline for longer may bring
    # the account back.
    tombstone_days: float = field(default=30.0, metadata=RESTART)


@dataclass(frozen=True)
class ResponsesConfig:
    """Responses kept for ``previous_response_id`` and ``GET /v1/responses/{id}`` (in memory)."""

    # Seconds a stored response is kept; 0: none is stored (``store`` is then ignored).
    store_ttl: float = 3600.0
    # The stored responses' total size (serialized); the oldest go first beyond it.
    store_max_bytes: int = 64 * MIB


@dataclass(frozen=True)
class SecretsConfig:
    """Encryption of the tokens at rest (tokens.json, Redis, exports)."""

    # A file holding the key (AG2API_SECRET_KEY, when set, wins). None and no variable: plaintext.
    key_file: Path | None = field(default=None, metadata=RESTART)


@dataclass(frozen=True)
class AccountsConfig:
    """How the pool's accounts are used, and when those taken out by a cause that may pass come
    back."""

    # Seconds between rechecks (one loadCodeAssist each) of accounts that need verification or
    # were disabled for a transient cause; they come back by themselves once it passes.
    recheck_seconds: float = 600.0
    # Spend Google One AI credits (enabledCreditTypes) on an account whose free quota for a
    # model is out, when its last check showed enough; a project's "use_credits" in
    # tokens.json overrides this for that account.
    use_credits: bool = False


@dataclass(frozen=True)
class GatewayConfig:
    path: Path
    server: ServerConfig = field(default_factory=ServerConfig)
    api_keys: tuple[ApiKey, ...] = ()
    # Unset in the file: beside it, or data/ beside a conf/ folder (load.default_tokens_file).
    tokens_file: Path = Path("data/tokens.json")
    rotation: RotationConfig = field(default_factory=RotationConfig)
    routing: RoutingConfig = field(default_factory=RoutingConfig)
    upstream: UpstreamConfig = field(default_factory=UpstreamConfig)
    retry: RetryConfig = field(default_factory=RetryConfig)
    limits: LimitsConfig = field(default_factory=LimitsConfig)
    defaults: DefaultsConfig = field(default_factory=DefaultsConfig)
    models: ModelsConfig = field(default_factory=ModelsConfig)
    images: ImagesConfig = field(default_factory=ImagesConfig)
    watch: WatchConfig = field(default_factory=WatchConfig)
    observability: ObservabilityConfig = field(default_factory=ObservabilityConfig)
    # The admin key for /admin (API: Bearer; page: login form). None: admin endpoints are off.
    admin_key: str | None = None
    admin: AdminConfig = field(default_factory=AdminConfig)
    responses: ResponsesConfig = field(default_factory=ResponsesConfig)
    log_level: str = "INFO"
    state: StateConfig = field(default_factory=StateConfig)
    secrets: SecretsConfig = field(default_factory=SecretsConfig)
    accounts: AccountsConfig = field(default_factory=AccountsConfig)
    # Not a setting: where each one was read (key path → its line in the file, or the variable
    # or flag that set it), so a problem found after loading names the line, not the value.
    sources: Mapping[tuple[str | int, ...], int | str] = field(
        default_factory=lambda: MappingProxyType({}), compare=False, repr=False
    )

    def policy_of(self, key: ApiKey | None) -> KeyPolicy:
        """The policy that applies to ``key`` (its own, else ``defaults.policy``)."""
        if key is None:
            return NO_POLICY
        return key.policy if key.policy is not None else self.defaults.policy

    @property
    def usage_db(self) -> Path:
        return self.observability.usage_db or self.tokens_file.parent / "usage.sqlite3"
