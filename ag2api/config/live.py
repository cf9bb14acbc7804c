"""The live configuration: one frozen snapshot, swapped whole, plus its load history."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from types import MappingProxyType

from ag2api.config.errors import located
from ag2api.config.load import ConfigError, parse_config
from ag2api.config.restart import pending_restart
from ag2api.config.schema import GatewayConfig, is_loopback
from ag2api.redact import os_reason

log = logging.getLogger("ag2api.config")


@dataclass(frozen=True)
class Overrides:
    """Command-line values, which win over every file and variable."""

    host: str | None = None
    port: int | None = None
    tokens_file: Path | None = None

    def apply(self, cfg: GatewayConfig) -> GatewayConfig:
        server, sources = cfg.server, dict(cfg.sources)
        if self.host is not None:
            server = replace(server, host=self.host)
            sources["server", "host"] = "--host"
        if self.port is not None:
            server = replace(server, port=self.port)
            sources["server", "port"] = "--port"
        tokens = cfg.tokens_file
        if self.tokens_file is not None:
            tokens = self.tokens_file.resolve()
            sources["tokens_file",] = "--tokens"
        return replace(cfg, server=server, tokens_file=tokens, sources=MappingProxyType(sources))


def read_config(
    path: Path, environ: Mapping[str, str] | None = None, overrides: Overrides | None = None
) -> GatewayConfig:
    """Read ``path`` (and a ``.env`` beside it) into a validated config; raise ConfigError."""
    path = path.resolve()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(str(path), None, "", "config file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(str(path), None, "", f"cannot read: {os_reason(exc)}") from None
    dotenv_path = path.parent / ".env"
    try:
        dotenv = dotenv_path.read_text(encoding="utf-8") if dotenv_path.is_file() else None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(str(dotenv_path), None, "", f"cannot read: {os_reason(exc)}") from None
    cfg = parse_config(
        text, path=path, dotenv_text=dotenv, environ=os.environ if environ is None else environ
    )
    return (overrides or Overrides()).apply(cfg)


def exposure_problem(cfg: GatewayConfig, hosts: Iterable[str] | None = None) -> ConfigError | None:
    """Why ``cfg`` must not be served on ``hosts`` (default its own server.host): no api_keys on
    an address other than loopback. One rule for the start and for every reload.

    The error names the setting and its line, never the address (a mistyped one may hold a
    password, and /health shows this to anyone)."""
    if cfg.api_keys:
        return None
    if hosts is None:
        if is_loopback(cfg.server.host):
            return None
        keys: tuple[str, ...] = ("server", "host")
        what = "is an address other than loopback, and no api_keys are configured"
    else:
        if all(is_loopback(h) for h in hosts):
            return None
        keys = ("api_keys",)
        what = "empty, while the gateway listens on an address other than loopback (since start)"
    return located(
        str(cfg.path),
        cfg.sources,
        keys,
        f"{what}: anyone who can reach it could use your Google accounts. Add keys under "
        "'api_keys' (or AG2API_API_KEYS), or listen on 127.0.0.1.",
    )


class LiveConfig:
    """Holds the current config; a request reads ``.current`` once and keeps that snapshot."""

    def __init__(self, initial: GatewayConfig, overrides: Overrides | None = None) -> None:
        self.current = initial
        # What start-only settings (server.host, state.*, ...) are in force until a restart.
        self.started = initial
        # The addresses the server is bound to (the start's server.host until the sockets say).
        self.listening: tuple[str, ...] = (initial.server.host,)
        # Command-line values, applied again to every reloaded file.
        self.overrides = overrides or Overrides()
        self.version = 1
        self.loaded_at = time.time()
        self.last_error: str | None = None
        # The same, as anyone may see it (/health): no folder names (ConfigError.public).
        self.last_error_public: str | None = None
        self.last_error_at: float | None = None
        self._listeners: list[Callable[[GatewayConfig, GatewayConfig], None]] = []

    @property
    def restart_required(self) -> list[str]:
        """Start-only settings edited since the start: in the file, not yet in force."""
        return pending_restart(self.started, self.current)

    def on_swap(self, listener: Callable[[GatewayConfig, GatewayConfig], None]) -> None:
        """Call ``listener(old, new)`` after every swap (objects that follow a setting)."""
        self._listeners.append(listener)

    def swap(self, new: GatewayConfig) -> None:
        old, self.current = self.current, new
        for listener in self._listeners:
            listener(old, new)
        self.version += 1
        self.loaded_at = time.time()
        self._forget_error()

    def clear_error(self) -> None:
        if self.last_error is not None:
            log.info("config file is valid again")
        self._forget_error()

    def _forget_error(self) -> None:
        self.last_error = self.last_error_public = None
        self.last_error_at = None

    def record_error(self, error: ConfigError) -> None:
        """Keep the last good config and remember why the new one was refused."""
        self.last_error, self.last_error_public = str(error), error.public
        self.last_error_at = time.time()
        log.error("config reload refused, keeping the last good config: %s", error)
