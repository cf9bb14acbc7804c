"""Value checks for config keys: each returns the clean value or raises ValueError(reason).

A reason never repeats the value (a URL may carry a password; /health shows the reason to
anyone): the caller names the file, the line and the key, and a list item by its position.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from typing import Any

from ag2api.config.schema import GLOB, Alias, Fallback

ZWSP = "\u200b"
PROXY_SCHEMES = ("http://", "https://", "socks4://", "socks4a://", "socks5://", "socks5h://")


def text(v: Any) -> str:
    if not isinstance(v, str) or not v.strip():
        raise ValueError("must be a non-empty string")
    return v.strip()


def boolean(v: Any) -> bool:
    if not isinstance(v, bool):
        raise ValueError("must be true or false")
    return v


def int_range(lo: int, hi: int) -> Callable[[Any], int]:
    def check(v: Any) -> int:
        if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
            raise ValueError(f"must be an integer from {lo} to {hi}")
        return v

    return check


def positive(v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, int | float) or v <= 0:
        raise ValueError("must be a number of seconds above 0")
    return float(v)


def non_negative(v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, int | float) or v < 0:
        raise ValueError("must be a number of seconds, 0 or more")
    return float(v)


def choice(options: tuple[str, ...], upper: bool = False) -> Callable[[Any], str]:
    def check(v: Any) -> str:
        s = v.upper() if upper and isinstance(v, str) else v
        if s not in options:
            raise ValueError(f"must be one of {', '.join(options)}")
        return s

    return check


def str_list(v: Any) -> tuple[str, ...]:
    if not isinstance(v, list) or not all(isinstance(x, str) and x.strip() for x in v):
        raise ValueError("must be a list of non-empty strings")
    return tuple(x.strip() for x in v)


def phrases(v: Any) -> tuple[str, ...]:
    """Literal phrases of 2 characters or more, without U+200B; repeats (case ignored) dropped."""
    if not isinstance(v, list):
        raise ValueError("must be a list of phrases ([] for none)")
    out: dict[str, str] = {}
    for item in v:
        if not isinstance(item, str) or len(item.strip()) < 2:
            raise ValueError(f"{item!r}: each phrase must be a string of 2 characters or more")
        if ZWSP in item:
            raise ValueError(f"{item!r} already holds a zero-width space (U+200B)")
        out.setdefault(item.strip().casefold(), item.strip())
    return tuple(out.values())


def ip_networks(v: Any) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    out = []
    for i, item in enumerate(str_list(v)):
        try:
            # strict: "10.0.0.1/8" is refused rather than read as all of 10.0.0.0/8.
            network = ipaddress.ip_network(item, strict=True)
        except ValueError:
            raise ValueError(
                f"item {i + 1} is not an IP address or CIDR range (with no host bits set)"
            ) from None
        if network.prefixlen == 0:
            raise ValueError(f"item {i + 1} would trust every address")
        out.append(network)
    return tuple(out)


def url(v: Any) -> str:
    s = text(v)
    if not s.startswith(("http://", "https://")):
        raise ValueError("is not an http(s) URL")
    return s.rstrip("/")


def url_list(v: Any) -> tuple[str, ...]:
    items = str_list(v)
    if not items:
        raise ValueError("must list at least one URL")
    for i, item in enumerate(items):
        if not item.startswith(("http://", "https://")):
            raise ValueError(f"item {i + 1} is not an http(s) URL")
    return tuple(url(x) for x in items)


def aliases(v: Any) -> tuple[Alias, ...]:
    if not isinstance(v, dict):
        raise ValueError("must be a mapping of alias: upstream model id (or a list of them)")
    out = []
    for i, (alias, target) in enumerate(v.items()):
        targets = [target] if isinstance(target, str) else target
        if (
            not isinstance(alias, str)
            or not alias.strip()
            or not isinstance(targets, list)
            or not targets
            or not all(isinstance(t, str) and t.strip() for t in targets)
        ):
            raise ValueError(f"alias {i + 1} must map to a model id or a list of model ids")
        out.append(Alias(alias.strip(), tuple(t.strip() for t in targets)))
    return tuple(out)


def fallbacks(v: Any) -> tuple[Fallback, ...]:
    """``{model glob: [model, …]}`` in order (a single model may be a string)."""
    if not isinstance(v, dict):
        raise ValueError("must be a mapping of model glob: [fallback model, …]")
    out = []
    for pattern, target in v.items():
        models = [target] if isinstance(target, str) else target
        if (
            not isinstance(pattern, str)
            or not pattern.strip()
            or not isinstance(models, list)
            or not models
            or not all(isinstance(m, str) and m.strip() and not GLOB.search(m) for m in models)
        ):
            raise ValueError(f"{pattern!r} must map to a model id or a list of model ids")
        out.append(Fallback(pattern.strip(), tuple(m.strip() for m in models)))
    return tuple(out)


def proxy(v: Any) -> str:
    s = text(v)
    if not s.startswith(PROXY_SCHEMES):
        raise ValueError(f"must start with one of {', '.join(PROXY_SCHEMES)}")
    return s


def secret(v: Any) -> str:
    s = text(v)
    if len(s) < 8:
        raise ValueError("must be at least 8 characters")
    return s
