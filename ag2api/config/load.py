"""Validated loading of ``gateway.yaml`` (plus the legacy ``.env`` and ``AG2API_*`` overrides).

Pure: callers pass the texts and the environment in. Precedence, lowest first: built-in defaults,
the YAML file, the original project's ``.env`` beside it, ``AG2API_*`` environment variables.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

from ag2api.config import checks as check
from ag2api.config.env import LEGACY_ENV, PREFIXED_ENV, apply_env, parse_dotenv
from ag2api.config.errors import ConfigError, located
from ag2api.config.keys_reader import KeysReader
from ag2api.config.schema import (
    ROUTING_STRATEGIES,
    AccountsConfig,
    AdminConfig,
    DefaultsConfig,
    GatewayConfig,
    ImagesConfig,
    LimitsConfig,
    ModelRule,
    ModelsConfig,
    ObservabilityConfig,
    ResponsesConfig,
    RetryConfig,
    RotationConfig,
    RoutingConfig,
    SecretsConfig,
    ServerConfig,
    StateConfig,
    ThinkingConfig,
    TimeoutConfig,
    UpstreamConfig,
    WatchConfig,
)
from ag2api.config.yamltree import Path_, YamlSyntaxError, load_with_lines

__all__ = ["ConfigError", "parse_config", "parse_dotenv"]


LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
WORKERS_NEED_REDIS = (
    "more than 1 worker needs state.backend: redis (workers share the pool's live state there)"
)
THINKING_LEVELS = ("minimal", "low", "medium", "high")
# Also the checks of the command line's --port and --workers.
PORT = check.int_range(0, 65535)
WORKERS = check.int_range(1, 256)


def default_tokens_file(config: Path) -> Path:
    """Where the accounts are when ``tokens_file`` is not set: tokens.json beside the config
    (``~/.config/ag2api/``), except that a config in a folder named ``conf`` (a clone of the
    repository, the Docker image) keeps them in the ``data/`` folder beside that one."""
    folder = config.parent
    if folder.name == "conf":
        return folder.parent / "data" / "tokens.json"
    return folder / "tokens.json"


def parse_config(
    text: str,
    *,
    path: Path,
    dotenv_text: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> GatewayConfig:
    """Validate ``text`` (the YAML) into a :class:`GatewayConfig`, or raise :class:`ConfigError`."""
    name = str(path)
    try:
        data, lines = load_with_lines(text)
    except YamlSyntaxError as exc:
        raise ConfigError(name, exc.line, exc.key, exc.reason) from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(name, 1, "", "the top level must be a mapping of keys")
    where: dict[Path_, int | str] = dict(lines)
    if dotenv_text:
        apply_env(data, where, parse_dotenv(dotenv_text), LEGACY_ENV, f"{path.parent / '.env'}")
    if environ:
        apply_env(data, where, environ, PREFIXED_ENV, "environment")
    return _Reader(name, data, where, path).build()


class _Reader:
    """Walks the parsed data section by section, checking every key and value."""

    def __init__(self, name: str, data: dict[str, Any], where: dict[Path_, int | str], path: Path):
        self.name, self.data, self.where, self.path = name, data, where, path
        self.keys = KeysReader(self)

    def fail(self, keys: Path_, reason: str) -> ConfigError:
        return located(self.name, self.where, keys, reason)

    def section(self, keys: Path_, allowed: tuple[str, ...]) -> dict[str, Any]:
        node: Any = self.data
        for key in keys:
            if isinstance(node, dict):
                node = node.get(key)
            elif isinstance(node, list) and isinstance(key, int) and key < len(node):
                node = node[key]
            else:
                node = None
        if node is None:
            return {}
        if not isinstance(node, dict):
            raise self.fail(keys, "must be a mapping")
        for key in node:
            if key not in allowed:
                raise self.fail((*keys, key), f"unknown key (allowed: {', '.join(allowed)})")
        return node

    def value(
        self, sec: dict[str, Any], keys: Path_, check: Callable[[Any], Any], default: Any
    ) -> Any:
        if keys[-1] not in sec or (sec[keys[-1]] is None and default is None):
            return default
        try:
            return check(sec[keys[-1]])
        except (TypeError, ValueError) as exc:
            raise self.fail(keys, str(exc)) from None

    def build(self) -> GatewayConfig:
        top = self.section(
            (),
            (
                "server",
                "api_keys",
                "tokens_file",
                "rotation",
                "routing",
                "upstream",
                "retry",
                "limits",
                "defaults",
                "models",
                "images",
                "watch",
                "observability",
                "admin_key",
                "admin",
                "responses",
                "log_level",
                "state",
                "secrets",
                "accounts",
            ),
        )
        d = GatewayConfig(path=self.path)
        tokens = self.value(top, ("tokens_file",), check.text, None)
        tokens_path = Path(tokens).expanduser() if tokens else default_tokens_file(self.path)
        if not tokens_path.is_absolute():
            tokens_path = self.path.parent / tokens_path
        admin_key = self.value(top, ("admin_key",), check.secret, None)
        api_keys = self.keys.api_keys(top)
        if admin_key is not None and any(
            hmac.compare_digest(k.digest, hashlib.sha256(admin_key.encode()).hexdigest())
            for k in api_keys
        ):
            raise self.fail(("admin_key",), "must differ from every client key in api_keys")
        cfg = GatewayConfig(
            path=self.path,
            server=self.server(),
            api_keys=api_keys,
            tokens_file=tokens_path,
            rotation=RotationConfig(
                count=self.value(
                    self.section(("rotation",), ("count",)),
                    ("rotation", "count"),
                    check.int_range(1, 1_000_000),
                    RotationConfig.count,
                )
            ),
            routing=self.routing(),
            upstream=self.upstream(),
            retry=self.retry(),
            limits=self.limits(),
            defaults=DefaultsConfig(
                stream=self.value(
                    self.section(("defaults",), ("stream", "policy")),
                    ("defaults", "stream"),
                    check.boolean,
                    DefaultsConfig.stream,
                ),
                policy=self.keys.policy(("defaults", "policy")) or DefaultsConfig.policy,
            ),
            models=self.models(),
            images=self.images(),
            watch=self.watch(),
            observability=self.observability(),
            admin_key=admin_key,
            admin=self.admin(),
            responses=self.responses(),
            log_level=self.value(
                top, ("log_level",), check.choice(LOG_LEVELS, upper=True), d.log_level
            ),
            state=self.state(),
            secrets=SecretsConfig(
                key_file=self._path(
                    self.section(("secrets",), ("key_file",)), ("secrets", "key_file")
                )
            ),
            accounts=self.accounts(),
            sources=MappingProxyType(dict(self.where)),
        )
        if cfg.server.workers > 1 and cfg.state.backend != "redis":
            raise self.fail(("server", "workers"), WORKERS_NEED_REDIS)
        return cfg

    def routing(self) -> RoutingConfig:
        p = ("routing",)
        sec = self.section(p, ("strategy", "affinity", "affinity_ttl"))
        d = RoutingConfig()
        return RoutingConfig(
            strategy=self.value(
                sec, (*p, "strategy"), check.choice(ROUTING_STRATEGIES), d.strategy
            ),
            affinity=self.value(sec, (*p, "affinity"), check.boolean, d.affinity),
            affinity_ttl=self.value(sec, (*p, "affinity_ttl"), check.positive, d.affinity_ttl),
        )

    def accounts(self) -> AccountsConfig:
        p = ("accounts",)
        sec = self.section(p, ("recheck_seconds", "use_credits"))
        d = AccountsConfig()
        return AccountsConfig(
            recheck_seconds=self.value(
                sec, (*p, "recheck_seconds"), check.positive, d.recheck_seconds
            ),
            use_credits=self.value(sec, (*p, "use_credits"), check.boolean, d.use_credits),
        )

    def state(self) -> StateConfig:
        p = ("state",)
        sec = self.section(
            p,
            (
                "backend",
                "redis_url",
                "key_prefix",
                "timeout",
                "lease_seconds",
                "sync_seconds",
                "host_name",
                "tombstone_days",
            ),
        )
        d = StateConfig()
        backend = self.value(sec, (*p, "backend"), check.choice(("memory", "redis")), d.backend)
        redis_url = self.value(sec, (*p, "redis_url"), check.text, None)
        if redis_url is not None and not redis_url.startswith(("redis://", "rediss://", "unix://")):
            raise self.fail((*p, "redis_url"), "must start with redis://, rediss:// or unix://")
        if backend == "redis" and not redis_url:
            raise self.fail((*p, "redis_url"), "is required when state.backend is redis")
        return StateConfig(
            backend=backend,
            redis_url=redis_url,
            key_prefix=self.value(sec, (*p, "key_prefix"), check.text, d.key_prefix),
            timeout=self.value(sec, (*p, "timeout"), check.positive, d.timeout),
            lease_seconds=self.value(sec, (*p, "lease_seconds"), check.positive, d.lease_seconds),
            sync_seconds=self.value(sec, (*p, "sync_seconds"), check.positive, d.sync_seconds),
            host_name=self.value(sec, (*p, "host_name"), check.text, None),
            tombstone_days=self.value(
                sec, (*p, "tombstone_days"), check.positive, d.tombstone_days
            ),
        )

    def server(self) -> ServerConfig:
        sec = self.section(
            ("server",),
            (
                "host",
                "port",
                "max_body_bytes",
                "cors_origins",
                "keepalive",
                "shutdown_grace",
                "header_timeout",
                "body_timeout",
                "idle_timeout",
                "max_connections",
                "max_connections_per_client",
                "workers",
                "trusted_proxies",
            ),
        )
        d = ServerConfig()
        return ServerConfig(
            host=self.value(sec, ("server", "host"), check.text, d.host),
            port=self.value(sec, ("server", "port"), PORT, d.port),
            max_body_bytes=self.value(
                sec, ("server", "max_body_bytes"), check.int_range(1024, 1 << 40), d.max_body_bytes
            ),
            cors_origins=self.value(
                sec, ("server", "cors_origins"), check.str_list, d.cors_origins
            ),
            keepalive=self.value(sec, ("server", "keepalive"), check.positive, d.keepalive),
            shutdown_grace=self.value(
                sec, ("server", "shutdown_grace"), check.non_negative, d.shutdown_grace
            ),
            header_timeout=self.value(
                sec, ("server", "header_timeout"), check.positive, d.header_timeout
            ),
            body_timeout=self.value(
                sec, ("server", "body_timeout"), check.positive, d.body_timeout
            ),
            idle_timeout=self.value(
                sec, ("server", "idle_timeout"), check.positive, d.idle_timeout
            ),
            max_connections=self.value(
                sec,
                ("server", "max_connections"),
                check.int_range(16, 1_000_000),
                d.max_connections,
            ),
            max_connections_per_client=self.value(
                sec,
                ("server", "max_connections_per_client"),
                check.int_range(1, 1_000_000),
                d.max_connections_per_client,
            ),
            workers=self.value(sec, ("server", "workers"), WORKERS, d.workers),
            trusted_proxies=self.value(
                sec, ("server", "trusted_proxies"), check.ip_networks, d.trusted_proxies
            ),
        )

    def upstream(self) -> UpstreamConfig:
        p = ("upstream",)
        sec = self.section(
            p,
            (
                "base_urls",
                "user_agent",
                "proxy",
                "timeouts",
                "max_connections",
                "ca_file",
                "gzip",
                "sensitive_words",
            ),
        )
        tsec = self.section((*p, "timeouts"), ("connect", "first_byte", "idle"))
        d, dt = UpstreamConfig(), TimeoutConfig()
        timeouts = TimeoutConfig(
            connect=self.value(tsec, (*p, "timeouts", "connect"), check.positive, dt.connect),
            first_byte=self.value(
                tsec, (*p, "timeouts", "first_byte"), check.positive, dt.first_byte
            ),
            idle=self.value(tsec, (*p, "timeouts", "idle"), check.positive, dt.idle),
        )
        return UpstreamConfig(
            base_urls=self.value(sec, (*p, "base_urls"), check.url_list, d.base_urls),
            user_agent=self.value(sec, (*p, "user_agent"), check.text, d.user_agent),
            proxy=self.value(sec, (*p, "proxy"), check.proxy, None),
            timeouts=timeouts,
            max_connections=self.value(
                sec, (*p, "max_connections"), check.int_range(1, 100_000), d.max_connections
            ),
            ca_file=self._path(sec, (*p, "ca_file")),
            gzip=self.value(sec, (*p, "gzip"), check.boolean, d.gzip),
            sensitive_words=self.value(
                sec, (*p, "sensitive_words"), check.phrases, d.sensitive_words
            ),
        )

    def _path(self, sec: dict[str, Any], keys: Path_) -> Path | None:
        """An optional file path; relative ones resolve against the config file's folder."""
        raw = self.value(sec, keys, check.text, None)
        if raw is None:
            return None
        value = Path(raw)
        return value if value.is_absolute() else self.path.parent / value

    def models(self) -> ModelsConfig:
        p = ("models",)
        sec = self.section(
            p, ("policies", "fallback", "cache_ttl", "aliases", "default_aliases", "fallbacks")
        )
        d = ModelsConfig()
        policies = d.policies
        if sec.get("policies") is not None:
            raw = sec["policies"]
            if not isinstance(raw, list):
                raise self.fail((*p, "policies"), "must be a list of {match, thinking}")
            policies = tuple(self.model_rule((*p, "policies", i)) for i in range(len(raw)))
        return ModelsConfig(
            policies=policies,
            fallback=self.value(sec, (*p, "fallback"), check.str_list, d.fallback),
            cache_ttl=self.value(sec, (*p, "cache_ttl"), check.non_negative, d.cache_ttl),
            aliases=self.value(sec, (*p, "aliases"), check.aliases, d.aliases),
            default_aliases=self.value(
                sec, (*p, "default_aliases"), check.boolean, d.default_aliases
            ),
            fallbacks=self.value(sec, (*p, "fallbacks"), check.fallbacks, d.fallbacks),
        )

    def images(self) -> ImagesConfig:
        p = ("images",)
        sec = self.section(
            p,
            (
                "fetch_remote",
                "max_bytes",
                "timeout",
                "allow_private",
                "max_images",
                "max_total_bytes",
                "concurrency",
                "concurrency_total",
            ),
        )
        d = ImagesConfig()
        return ImagesConfig(
            fetch_remote=self.value(sec, (*p, "fetch_remote"), check.boolean, d.fetch_remote),
            max_bytes=self.value(
                sec, (*p, "max_bytes"), check.int_range(1024, 1 << 30), d.max_bytes
            ),
            timeout=self.value(sec, (*p, "timeout"), check.positive, d.timeout),
            allow_private=self.value(sec, (*p, "allow_private"), check.boolean, d.allow_private),
            max_images=self.value(sec, (*p, "max_images"), check.int_range(1, 1000), d.max_images),
            max_total_bytes=self.value(
                sec, (*p, "max_total_bytes"), check.int_range(1024, 1 << 32), d.max_total_bytes
            ),
            concurrency=self.value(sec, (*p, "concurrency"), check.int_range(1, 64), d.concurrency),
            concurrency_total=self.value(
                sec, (*p, "concurrency_total"), check.int_range(1, 256), d.concurrency_total
            ),
        )

    def retry(self) -> RetryConfig:
        p = ("retry",)
        names = (
            "attempts",
            "total_seconds",
            "short_rate_limit",
            "default_cooldown",
            "max_cooldown",
            "backoff_base",
            "backoff_max",
        )
        sec = self.section(p, names)
        d = RetryConfig()
        values = {
            name: self.value(sec, (*p, name), check.positive, getattr(d, name))
            for name in names[1:]
        }
        attempts = self.value(sec, (*p, "attempts"), check.int_range(1, 100), d.attempts)
        return RetryConfig(attempts=attempts, **values)

    def limits(self) -> LimitsConfig:
        p = ("limits",)
        sec = self.section(p, ("per_account", "total", "slot_wait"))
        d = LimitsConfig()
        return LimitsConfig(
            per_account=self.value(
                sec, (*p, "per_account"), check.int_range(1, 100_000), d.per_account
            ),
            total=self.value(sec, (*p, "total"), check.int_range(1, 1_000_000), d.total),
            slot_wait=self.value(sec, (*p, "slot_wait"), check.non_negative, d.slot_wait),
        )

    def observability(self) -> ObservabilityConfig:
        p = ("observability",)
        sec = self.section(
            p,
            (
                "request_log_file",
                "request_log_max_bytes",
                "request_log_backups",
                "usage_db",
                "usage_flush_seconds",
                "metrics_require_admin",
                "quota_refresh_seconds",
            ),
        )
        d = ObservabilityConfig()

        return ObservabilityConfig(
            request_log_file=self._path(sec, (*p, "request_log_file")),
            request_log_max_bytes=self.value(
                sec,
                (*p, "request_log_max_bytes"),
                check.int_range(1024, 1 << 40),
                d.request_log_max_bytes,
            ),
            request_log_backups=self.value(
                sec, (*p, "request_log_backups"), check.int_range(0, 1000), d.request_log_backups
            ),
            usage_db=self._path(sec, (*p, "usage_db")),
            usage_flush_seconds=self.value(
                sec, (*p, "usage_flush_seconds"), check.positive, d.usage_flush_seconds
            ),
            metrics_require_admin=self.value(
                sec, (*p, "metrics_require_admin"), check.boolean, d.metrics_require_admin
            ),
            quota_refresh_seconds=self.value(
                sec, (*p, "quota_refresh_seconds"), check.positive, d.quota_refresh_seconds
            ),
        )

    def admin(self) -> AdminConfig:
        p = ("admin",)
        sec = self.section(p, ("session_lifetime", "login_max_failures", "login_window"))
        d = AdminConfig()
        return AdminConfig(
            session_lifetime=self.value(
                sec, (*p, "session_lifetime"), check.positive, d.session_lifetime
            ),
            login_max_failures=self.value(
                sec, (*p, "login_max_failures"), check.int_range(1, 1_000_000), d.login_max_failures
            ),
            login_window=self.value(sec, (*p, "login_window"), check.positive, d.login_window),
        )

    def responses(self) -> ResponsesConfig:
        p = ("responses",)
        sec = self.section(p, ("store_ttl", "store_max_bytes"))
        d = ResponsesConfig()
        return ResponsesConfig(
            store_ttl=self.value(sec, (*p, "store_ttl"), check.non_negative, d.store_ttl),
            store_max_bytes=self.value(
                sec, (*p, "store_max_bytes"), check.int_range(0, 1 << 40), d.store_max_bytes
            ),
        )

    def watch(self) -> WatchConfig:
        sec = self.section(("watch",), ("enabled", "force_polling"))
        d = WatchConfig()
        return WatchConfig(
            enabled=self.value(sec, ("watch", "enabled"), check.boolean, d.enabled),
            force_polling=self.value(
                sec, ("watch", "force_polling"), check.boolean, d.force_polling
            ),
        )

    def model_rule(self, keys: Path_) -> ModelRule:
        sec = self.section(keys, ("match", "thinking"))
        match = self.value(sec, (*keys, "match"), check.text, None)
        if match is None:
            raise self.fail(keys, "'match' (a model name glob) is required")
        if sec.get("thinking") is None:
            return ModelRule(match, None)
        t = self.section((*keys, "thinking"), ("include_thoughts", "budget", "level"))
        include = self.value(t, (*keys, "thinking", "include_thoughts"), check.boolean, True)
        budget = self.value(t, (*keys, "thinking", "budget"), check.int_range(-1, 1_000_000), None)
        level = self.value(t, (*keys, "thinking", "level"), check.choice(THINKING_LEVELS), None)
        if budget is not None and level is not None:
            raise self.fail((*keys, "thinking"), "set either 'budget' or 'level', not both")
        return ModelRule(match, ThinkingConfig(include, budget, level))
