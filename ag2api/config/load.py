"""Validated loading of ``gateway.yaml`` (plus the legacy ``.env`` and ``AG2API_*`` overrides).

Pure: callers pass the texts and the environment in. Precedence, lowest first: built-in defaults,
the YAML file, the original project's ``.env`` beside it, ``AG2API_*`` environment variables.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from ag2api.config.schema import (
    ApiKey,
    DefaultsConfig,
    GatewayConfig,
    ImagesConfig,
    ModelPolicy,
    ModelsConfig,
    RetryConfig,
    RotationConfig,
    ServerConfig,
    ThinkingConfig,
    TimeoutConfig,
    UpstreamConfig,
)
from ag2api.config.yamltree import Path_, YamlSyntaxError, load_with_lines


class ConfigError(ValueError):
    """A config problem, naming the file, the line (or variable) and the key."""

    def __init__(self, file: str, where: int | str | None, key: str, reason: str) -> None:
        self.file, self.where, self.key, self.reason = file, where, key, reason
        loc = file if where is None else (f"{file}:{where}" if isinstance(where, int) else where)
        super().__init__(f"{loc}: {key + ': ' if key else ''}{reason}")

    @property
    def line(self) -> int | None:
        return self.where if isinstance(self.where, int) else None


# Legacy .env names (the original antigravity2api-python) and AG2API_* names → key path, kind.
LEGACY_ENV = {
    "API_KEYS": (("api_keys",), "json_list"),
    "HOST": (("server", "host"), "str"),
    "PORT": (("server", "port"), "int"),
    "TOKEN_ROTATION_COUNT": (("rotation", "count"), "int"),
}
PREFIXED_ENV = {
    "AG2API_API_KEYS": (("api_keys",), "list"),
    "AG2API_HOST": (("server", "host"), "str"),
    "AG2API_PORT": (("server", "port"), "int"),
    "AG2API_ROTATION_COUNT": (("rotation", "count"), "int"),
    "AG2API_TOKEN_ROTATION_COUNT": (("rotation", "count"), "int"),
    "AG2API_TOKENS_FILE": (("tokens_file",), "path"),
    "AG2API_LOG_LEVEL": (("log_level",), "str"),
    "AG2API_UPSTREAM_PROXY": (("upstream", "proxy"), "str"),
    "AG2API_UPSTREAM_BASE_URLS": (("upstream", "base_urls"), "list"),
    "AG2API_UPSTREAM_USER_AGENT": (("upstream", "user_agent"), "str"),
}
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
THINKING_LEVELS = ("minimal", "low", "medium", "high")
PROXY_SCHEMES = ("http://", "https://", "socks4://", "socks4a://", "socks5://", "socks5h://")


def parse_dotenv(text: str) -> dict[str, str]:
    """``KEY=VALUE`` lines (``export`` and quotes allowed, ``#`` comments) → dict."""
    out: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, value = line.split("=", 1)
        key = key.strip().removeprefix("export ").strip()
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        out[key] = value
    return out


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
        raise ConfigError(name, exc.line, "", exc.reason) from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(name, 1, "", "the top level must be a mapping of keys")
    where: dict[Path_, int | str] = dict(lines)
    if dotenv_text:
        _apply_env(data, where, parse_dotenv(dotenv_text), LEGACY_ENV, f"{path.parent / '.env'}")
    if environ:
        _apply_env(data, where, environ, PREFIXED_ENV, "environment")
    return _Reader(name, data, where, path).build()


def _apply_env(
    data: dict[str, Any],
    where: dict[Path_, int | str],
    env: Mapping[str, str],
    table: dict[str, tuple[tuple[str, ...], str]],
    origin: str,
) -> None:
    for var, (keys, kind) in table.items():
        if var not in env:
            continue
        raw = env[var]
        label = f"{origin} {var}"
        value: Any = raw
        if kind == "int":
            try:
                value = int(raw)
            except ValueError:
                raise ConfigError(
                    label, None, ".".join(keys), f"{raw!r} is not an integer"
                ) from None
        elif kind == "json_list":
            try:
                value = json.loads(raw)
            except ValueError:
                raise ConfigError(label, None, ".".join(keys), "must be a JSON list") from None
        elif kind == "list":
            stripped = raw.strip()
            value = (
                json.loads(stripped)
                if stripped.startswith("[")
                else [item.strip() for item in stripped.split(",") if item.strip()]
            )
        elif kind == "path":
            value = str(Path(raw).resolve())
        node = data
        for key in keys[:-1]:
            child = node.get(key)
            if not isinstance(child, dict):
                child = node[key] = {}
            node = child
        node[keys[-1]] = value
        where[keys] = label


class _Reader:
    """Walks the parsed data section by section, checking every key and value."""

    def __init__(self, name: str, data: dict[str, Any], where: dict[Path_, int | str], path: Path):
        self.name, self.data, self.where, self.path = name, data, where, path

    def fail(self, keys: Path_, reason: str) -> ConfigError:
        probe = keys
        while probe and probe not in self.where:
            probe = probe[:-1]
        where = self.where.get(probe)
        label = ".".join(str(k) if isinstance(k, str) else f"[{k}]" for k in keys).replace(
            ".[", "["
        )
        if isinstance(where, str):
            return ConfigError(where, None, label, reason)
        return ConfigError(self.name, where, label, reason)

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
                "upstream",
                "retry",
                "defaults",
                "models",
                "images",
                "log_level",
            ),
        )
        d = GatewayConfig(path=self.path)
        tokens = self.value(top, ("tokens_file",), _str, None)
        tokens_path = Path(tokens) if tokens else d.tokens_file
        if not tokens_path.is_absolute():
            tokens_path = self.path.parent / tokens_path
        return GatewayConfig(
            path=self.path,
            server=self.server(),
            api_keys=self.api_keys(top),
            tokens_file=tokens_path,
            rotation=RotationConfig(
                count=self.value(
                    self.section(("rotation",), ("count",)),
                    ("rotation", "count"),
                    _int_range(1, 1_000_000),
                    RotationConfig.count,
                )
            ),
            upstream=self.upstream(),
            retry=RetryConfig(
                max_accounts=self.value(
                    self.section(("retry",), ("max_accounts",)),
                    ("retry", "max_accounts"),
                    _int_range(1, 1000),
                    RetryConfig.max_accounts,
                )
            ),
            defaults=DefaultsConfig(
                stream=self.value(
                    self.section(("defaults",), ("stream",)),
                    ("defaults", "stream"),
                    _bool,
                    DefaultsConfig.stream,
                )
            ),
            models=self.models(),
            images=self.images(),
            log_level=self.value(top, ("log_level",), _choice(LOG_LEVELS, upper=True), d.log_level),
        )

    def server(self) -> ServerConfig:
        sec = self.section(("server",), ("host", "port", "max_body_bytes", "cors_origins"))
        d = ServerConfig()
        return ServerConfig(
            host=self.value(sec, ("server", "host"), _str, d.host),
            port=self.value(sec, ("server", "port"), _int_range(0, 65535), d.port),
            max_body_bytes=self.value(
                sec, ("server", "max_body_bytes"), _int_range(1024, 1 << 40), d.max_body_bytes
            ),
            cors_origins=self.value(sec, ("server", "cors_origins"), _str_list, d.cors_origins),
        )

    def api_keys(self, top: dict[str, Any]) -> tuple[ApiKey, ...]:
        raw = top.get("api_keys")
        if raw is None:
            return ()
        if not isinstance(raw, list):
            raise self.fail(("api_keys",), "must be a list of keys")
        keys: list[ApiKey] = []
        for i, item in enumerate(raw):
            if isinstance(item, str) and item.strip():
                keys.append(ApiKey(item.strip(), f"key-{i + 1}"))
            elif isinstance(item, dict):
                extra = set(item) - {"key", "label"}
                if extra:
                    raise self.fail(("api_keys", i), f"unknown field {sorted(extra)[0]!r}")
                key, label = item.get("key"), item.get("label", f"key-{i + 1}")
                if not isinstance(key, str) or not key.strip():
                    raise self.fail(("api_keys", i), "'key' must be a non-empty string")
                if not isinstance(label, str) or not label.strip():
                    raise self.fail(("api_keys", i), "'label' must be a non-empty string")
                keys.append(ApiKey(key.strip(), label.strip()))
            else:
                raise self.fail(("api_keys", i), "must be a string or a mapping {key, label}")
        seen: set[str] = set()
        for i, k in enumerate(keys):
            if k.key in seen:
                raise self.fail(("api_keys", i), "duplicate key")
            seen.add(k.key)
        return tuple(keys)

    def upstream(self) -> UpstreamConfig:
        p = ("upstream",)
        sec = self.section(p, ("base_urls", "user_agent", "proxy", "timeouts", "max_connections"))
        tsec = self.section((*p, "timeouts"), ("connect", "first_byte", "idle"))
        d, dt = UpstreamConfig(), TimeoutConfig()
        timeouts = TimeoutConfig(
            connect=self.value(tsec, (*p, "timeouts", "connect"), _positive, dt.connect),
            first_byte=self.value(tsec, (*p, "timeouts", "first_byte"), _positive, dt.first_byte),
            idle=self.value(tsec, (*p, "timeouts", "idle"), _positive, dt.idle),
        )
        return UpstreamConfig(
            base_urls=self.value(sec, (*p, "base_urls"), _url_list, d.base_urls),
            user_agent=self.value(sec, (*p, "user_agent"), _str, d.user_agent),
            proxy=self.value(sec, (*p, "proxy"), _proxy, None),
            timeouts=timeouts,
            max_connections=self.value(
                sec, (*p, "max_connections"), _int_range(1, 100_000), d.max_connections
            ),
        )

    def models(self) -> ModelsConfig:
        p = ("models",)
        sec = self.section(p, ("policies", "fallback", "cache_ttl", "aliases"))
        d = ModelsConfig()
        policies = d.policies
        if sec.get("policies") is not None:
            raw = sec["policies"]
            if not isinstance(raw, list):
                raise self.fail((*p, "policies"), "must be a list of {match, thinking}")
            policies = tuple(self.policy((*p, "policies", i)) for i in range(len(raw)))
        return ModelsConfig(
            policies=policies,
            fallback=self.value(sec, (*p, "fallback"), _str_list, d.fallback),
            cache_ttl=self.value(sec, (*p, "cache_ttl"), _non_negative, d.cache_ttl),
            aliases=self.value(sec, (*p, "aliases"), _aliases, d.aliases),
        )

    def images(self) -> ImagesConfig:
        p = ("images",)
        sec = self.section(p, ("fetch_remote", "max_bytes", "timeout", "allow_private"))
        d = ImagesConfig()
        return ImagesConfig(
            fetch_remote=self.value(sec, (*p, "fetch_remote"), _bool, d.fetch_remote),
            max_bytes=self.value(sec, (*p, "max_bytes"), _int_range(1024, 1 << 30), d.max_bytes),
            timeout=self.value(sec, (*p, "timeout"), _positive, d.timeout),
            allow_private=self.value(sec, (*p, "allow_private"), _bool, d.allow_private),
        )

    def policy(self, keys: Path_) -> ModelPolicy:
        sec = self.section(keys, ("match", "thinking"))
        match = self.value(sec, (*keys, "match"), _str, None)
        if match is None:
            raise self.fail(keys, "'match' (a model name glob) is required")
        if sec.get("thinking") is None:
            return ModelPolicy(match, None)
        t = self.section((*keys, "thinking"), ("include_thoughts", "budget", "level"))
        include = self.value(t, (*keys, "thinking", "include_thoughts"), _bool, True)
        budget = self.value(t, (*keys, "thinking", "budget"), _int_range(-1, 1_000_000), None)
        level = self.value(t, (*keys, "thinking", "level"), _choice(THINKING_LEVELS), None)
        if budget is not None and level is not None:
            raise self.fail((*keys, "thinking"), "set either 'budget' or 'level', not both")
        return ModelPolicy(match, ThinkingConfig(include, budget, level))


def _str(v: Any) -> str:
    if not isinstance(v, str) or not v.strip():
        raise ValueError("must be a non-empty string")
    return v.strip()


def _bool(v: Any) -> bool:
    if not isinstance(v, bool):
        raise ValueError("must be true or false")
    return v


def _int_range(lo: int, hi: int) -> Callable[[Any], int]:
    def check(v: Any) -> int:
        if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
            raise ValueError(f"must be an integer from {lo} to {hi}")
        return v

    return check


def _positive(v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, int | float) or v <= 0:
        raise ValueError("must be a number of seconds above 0")
    return float(v)


def _non_negative(v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, int | float) or v < 0:
        raise ValueError("must be a number of seconds, 0 or more")
    return float(v)


def _choice(options: tuple[str, ...], upper: bool = False) -> Callable[[Any], str]:
    def check(v: Any) -> str:
        s = v.upper() if upper and isinstance(v, str) else v
        if s not in options:
            raise ValueError(f"must be one of {', '.join(options)}")
        return s

    return check


def _str_list(v: Any) -> tuple[str, ...]:
    if not isinstance(v, list) or not all(isinstance(x, str) and x.strip() for x in v):
        raise ValueError("must be a list of non-empty strings")
    return tuple(x.strip() for x in v)


def _url(v: Any) -> str:
    s = _str(v)
    if not s.startswith(("http://", "https://")):
        raise ValueError(f"{s!r} is not an http(s) URL")
    return s.rstrip("/")


def _url_list(v: Any) -> tuple[str, ...]:
    items = _str_list(v)
    if not items:
        raise ValueError("must list at least one URL")
    return tuple(_url(x) for x in items)


def _aliases(v: Any) -> tuple[tuple[str, str], ...]:
    if not isinstance(v, dict):
        raise ValueError("must be a mapping of alias: upstream model id")
    out = []
    for alias, target in v.items():
        if not isinstance(target, str) or not target.strip():
            raise ValueError(f"alias {alias!r} must map to a model id")
        out.append((alias.strip(), target.strip()))
    return tuple(out)


def _proxy(v: Any) -> str:
    s = _str(v)
    if not s.startswith(PROXY_SCHEMES):
        raise ValueError(f"must start with one of {', '.join(PROXY_SCHEMES)}")
    return s
