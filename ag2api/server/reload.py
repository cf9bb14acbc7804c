"""Applying edited files to the running gateway: gateway.yaml and tokens.json.

Bad edits are harmless: a config or tokens file that does not validate is refused, the last good
one stays in force, and the reason (file, line) is logged and shown on /health until fixed.
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import fields

from ag2api.accounts.store import TokensFileError, parse_tokens, path_error
from ag2api.config.live import exposure_problem, read_config
from ag2api.config.load import ConfigError
from ag2api.config.schema import GatewayConfig
from ag2api.services import Services

log = logging.getLogger("ag2api.reload")

# Settings read once at start: a change is logged as needing a restart.
RESTART_ONLY = (
    ("server", "host"),
    ("server", "port"),
    ("server", "header_timeout"),
    ("server", "body_timeout"),
    ("server", "idle_timeout"),
    ("server", "max_connections"),
    ("upstream", "max_connections"),
    ("images", "concurrency_total"),
)


class Reloader:
    def __init__(self, services: Services) -> None:
        self.services = services
        self._tokens_digest: str | None = None
        self._unreadable: str | None = None

    def reload_config(self) -> bool:
        """Re-read gateway.yaml; True when a new config is now in force."""
        live = self.services.config
        try:
            new = read_config(live.current.path, overrides=live.overrides)
        except ConfigError as exc:
            live.record_error(exc)
            self.services.metrics.reloads.labels("config", "refused").inc()
            return False
        old = live.current
        # host is read at start only: the address in use and the new one must both be safe.
        problem = exposure_problem(new) or exposure_problem(new, old.server.host)
        if problem is not None:
            live.record_error(ConfigError(str(new.path), None, "api_keys", problem))
            self.services.metrics.reloads.labels("config", "refused").inc()
            return False
        if new == old:
            live.clear_error()
            return False
        live.swap(new)
        self.services.metrics.reloads.labels("config", "applied").inc()
        self._apply(old, new)
        changed = [
            f.name for f in fields(GatewayConfig) if getattr(old, f.name) != getattr(new, f.name)
        ]
        log.info("config reloaded from %s (changed: %s)", new.path, ", ".join(changed))
        return True

    def _apply(self, old: GatewayConfig, new: GatewayConfig) -> None:
        s = self.services
        s.pool.rotation_count = new.rotation.count
        s.dispatcher.slots.per_account = new.limits.per_account
        s.dispatcher.slots.total = new.limits.total
        if new.log_level != old.log_level:
            logging.getLogger().setLevel(new.log_level)
        for section, key in RESTART_ONLY:
            before = getattr(getattr(old, section), key)
            after = getattr(getattr(new, section), key)
            if before != after:
                log.warning(
                    "%s.%s changed (%s → %s): takes effect after a restart",
                    section,
                    key,
                    before,
                    after,
                )
        if new.tokens_file != old.tokens_file:
            s.writer.path = new.tokens_file
            self._tokens_digest = None
            self.reload_tokens()

    def reload_tokens(self) -> bool:
        """Re-read tokens.json; True when the pool was rebuilt from it."""
        s = self.services
        path = s.config.current.tokens_file
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            # Kept: editors replace files, and a vanished file is no reason to drop the pool (the
            # writer recreates it from memory when it next has something to save).
            return self._tokens_failed(f"{path}: the file is missing; keeping the accounts in use")
        except OSError as exc:
            return self._tokens_failed(f"{path_error(path, exc)}; keeping the accounts in use")
        digest = hashlib.sha256(data).hexdigest()
        if digest == self._tokens_digest:
            # The file as last applied (e.g. restored after a delete): nothing is wrong any more
            # (but what its last read could not open).
            s.tokens_error = self._unreadable
            s.tokens_error_at = time.time() if self._unreadable else None
            s.writer.file_changed()
            return False
        try:
            parsed = parse_tokens(data, str(path), s.cipher)
        except TokensFileError as exc:
            return self._tokens_failed(f"{exc}; keeping the accounts in use")
        s.oauth = parsed.oauth
        s.pool.replace_accounts(parsed.accounts, s.writer.pending())
        # Entries the key cannot open are left out and named (/health) until that is fixed.
        s.tokens_error = parsed.unreadable
        s.tokens_error_at = time.time() if parsed.unreadable else None
        if parsed.unreadable:
            log.error("%s", parsed.unreadable)
        self._tokens_digest = digest
        self._unreadable = parsed.unreadable
        s.writer.file_changed()  # readable again: a write waiting to retry goes now
        s.metrics.reloads.labels("tokens", "applied").inc()
        enabled, disabled = s.pool.counts()
        log.info("tokens reloaded from %s: %d enabled, %d disabled", path, enabled, disabled)
        return True

    def _tokens_failed(self, reason: str) -> bool:
        s = self.services
        if s.tokens_error != reason:
            log.error("tokens reload refused: %s", reason)
            s.metrics.reloads.labels("tokens", "refused").inc()
        s.tokens_error, s.tokens_error_at = reason, time.time()
        return False
