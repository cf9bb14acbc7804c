"""Config overrides from the original project's ``.env`` and ``AG2API_*`` variables."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ag2api.config.errors import ConfigError
from ag2api.config.yamltree import Path_

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
    "AG2API_ADMIN_KEY": (("admin_key",), "str"),
    "AG2API_STATE_BACKEND": (("state", "backend"), "str"),
    "AG2API_STATE_REDIS_URL": (("state", "redis_url"), "str"),
    "AG2API_STATE_KEY_PREFIX": (("state", "key_prefix"), "str"),
}


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


def apply_env(
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
                raise ConfigError(label, None, ".".join(keys), "is not an integer") from None
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
