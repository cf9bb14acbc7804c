"""Which settings differ from the ones the gateway started with and only apply after a restart.

The schema marks them (``metadata=RESTART`` in :mod:`ag2api.config.schema`); nothing else lists
them, so a new start-only setting is reported as soon as its field is marked.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, fields, is_dataclass
from typing import Any, get_type_hints

from ag2api.config.schema import GatewayConfig


@dataclass(frozen=True)
class StartOnly:
    name: str  # dotted, as in gateway.yaml: "server.host"
    # A setting whose effect also depends on another (usage_db on tokens_file) names the
    # GatewayConfig property that resolves it; that is what is compared.
    in_force: str | None


@functools.cache
def start_only() -> tuple[StartOnly, ...]:
    """Every setting marked as read only at start."""
    return tuple(_walk(GatewayConfig, ""))


def _walk(cls: type, prefix: str) -> list[StartOnly]:
    out: list[StartOnly] = []
    types = get_type_hints(cls)
    for f in fields(cls):
        name, kind = f"{prefix}{f.name}", types[f.name]
        if f.metadata.get("restart"):
            out.append(StartOnly(name, f.metadata.get("in_force")))
        elif isinstance(kind, type) and is_dataclass(kind):
            out.extend(_walk(kind, f"{name}."))
    return out


def pending_restart(started: GatewayConfig, current: GatewayConfig) -> list[str]:
    """The start-only settings whose value in ``current`` differs from the one in force since the
    start (``started``): each takes effect only after a restart."""
    return [s.name for s in start_only() if _value(started, s) != _value(current, s)]


def _value(cfg: GatewayConfig, setting: StartOnly) -> Any:
    if setting.in_force is not None:
        return getattr(cfg, setting.in_force)
    node: Any = cfg
    for part in setting.name.split("."):
        node = getattr(node, part)
    return node
