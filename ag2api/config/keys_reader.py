"""Reading the client API keys (``api_keys``) and their policies (also ``defaults.policy``) out of
the parsed gateway.yaml, with the loader's checks and error locations."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Any, Protocol

from ag2api.config import checks as check
from ag2api.config.errors import ConfigError
from ag2api.config.schema import HASH_PREFIX, ApiKey, KeyPolicy
from ag2api.config.yamltree import Path_

# A policy's fields, in the documented order (the console writes them in this order too).
POLICY_FIELDS = (
    "models",
    "rpm",
    "tpm",
    "max_concurrent",
    "daily_tokens",
    "monthly_tokens",
    "expires",
    "enabled",
    "fallbacks",
)
HASHED_KEY = re.compile(r"sha256:[0-9a-f]{64}")


class ConfigReading(Protocol):
    """The loader's primitives this reader builds on."""

    data: dict[str, Any]

    def fail(self, keys: Path_, reason: str) -> ConfigError: ...

    def section(self, keys: Path_, allowed: tuple[str, ...]) -> dict[str, Any]: ...

    def value(
        self, sec: dict[str, Any], keys: Path_, check: Callable[[Any], Any], default: Any
    ) -> Any: ...


def expiry(v: object) -> float:
    """A date (valid through that UTC day) or a date-time (with zone, or UTC) → epoch seconds."""
    if isinstance(v, str):
        text = v.strip()
        try:
            v = (
                dt.date.fromisoformat(text)
                if len(text) == 10
                else dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
            )
        except ValueError:
            raise ValueError("must be a date (2026-12-31) or a date-time (ISO 8601)") from None
    if isinstance(v, dt.datetime):
        when = v if v.tzinfo else v.replace(tzinfo=dt.UTC)
        return when.timestamp()
    if isinstance(v, dt.date):
        end = dt.datetime(v.year, v.month, v.day, tzinfo=dt.UTC) + dt.timedelta(days=1)
        return end.timestamp()
    raise ValueError("must be a date (2026-12-31) or a date-time (ISO 8601)")


class KeysReader:
    """Client keys and key policies, read through the loader's ``reader``."""

    def __init__(self, reader: ConfigReading) -> None:
        self.reader = reader

    def api_keys(self, top: dict[str, Any]) -> tuple[ApiKey, ...]:
        """The ``api_keys`` list: plain keys or {key, label, policy}, no key or label twice."""
        raw = top.get("api_keys")
        if raw is None:
            return ()
        if not isinstance(raw, list):
            raise self.reader.fail(("api_keys",), "must be a list of keys")
        keys: list[ApiKey] = []
        for i, item in enumerate(raw):
            if isinstance(item, str) and item.strip():
                keys.append(ApiKey(self.key_text(("api_keys", i), item), f"key-{i + 1}"))
            elif isinstance(item, dict):
                extra = set(item) - {"key", "label", "policy"}
                if extra:
                    raise self.reader.fail(("api_keys", i), f"unknown field {sorted(extra)[0]!r}")
                key, label = item.get("key"), item.get("label", f"key-{i + 1}")
                if not isinstance(key, str) or not key.strip():
                    raise self.reader.fail(("api_keys", i), "'key' must be a non-empty string")
                if not isinstance(label, str) or not label.strip():
                    raise self.reader.fail(("api_keys", i), "'label' must be a non-empty string")
                policy = self.policy(("api_keys", i, "policy"))
                keys.append(ApiKey(self.key_text(("api_keys", i), key), label.strip(), policy))
            else:
                raise self.reader.fail(
                    ("api_keys", i), "must be a string or a mapping {key, label, policy}"
                )
        seen: dict[str, int] = {}
        labels: dict[str, int] = {}
        for i, k in enumerate(keys):
            if k.digest in seen:
                raise self.reader.fail(
                    ("api_keys", i), f"duplicate key (the same as api_keys[{seen[k.digest]}])"
                )
            seen[k.digest] = i
            if k.label in labels:
                raise self.reader.fail(
                    ("api_keys", i, "label"), f"duplicate label (as in api_keys[{labels[k.label]}])"
                )
            labels[k.label] = i
        return tuple(keys)

    def key_text(self, keys: Path_, raw: str) -> str:
        """A key as written, or its ``sha256:`` digest (lower-cased, checked)."""
        key = raw.strip()
        if key.lower().startswith(HASH_PREFIX):
            key = key.lower()
            if not HASHED_KEY.fullmatch(key):
                raise self.reader.fail(keys, "a hashed key must be 'sha256:' and 64 hex digits")
        return key

    def policy(self, keys: Path_) -> KeyPolicy | None:
        """A key policy mapping, or None when absent."""
        node: Any = self.reader.data
        for key in keys:
            node = (
                node.get(key)
                if isinstance(node, dict)
                else (node[key] if isinstance(node, list) and isinstance(key, int) else None)
            )
        if node is None:
            return None
        sec = self.reader.section(keys, POLICY_FIELDS)
        count = check.int_range(1, 1 << 50)
        models = self.reader.value(sec, (*keys, "models"), check.str_list, None)
        return KeyPolicy(
            models=models,
            rpm=self.reader.value(sec, (*keys, "rpm"), count, None),
            tpm=self.reader.value(sec, (*keys, "tpm"), count, None),
            max_concurrent=self.reader.value(sec, (*keys, "max_concurrent"), count, None),
            daily_tokens=self.reader.value(sec, (*keys, "daily_tokens"), count, None),
            monthly_tokens=self.reader.value(sec, (*keys, "monthly_tokens"), count, None),
            expires=self.reader.value(sec, (*keys, "expires"), expiry, None),
            enabled=self.reader.value(sec, (*keys, "enabled"), check.boolean, True),
            fallbacks=self.reader.value(sec, (*keys, "fallbacks"), check.boolean, True),
        )
