"""Applying edited files to the running gateway: gateway.yaml and tokens.json.

Bad edits are harmless: a config or tokens file that does not validate is refused, the last good
one stays in force, and the reason (file, line) is logged and shown on /health until fixed.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from dataclasses import fields
from pathlib import Path

from ag2api.accounts.store import TokensFileError, parse_tokens, path_error
from ag2api.config.errors import located
from ag2api.config.live import exposure_problem, read_config
from ag2api.config.load import ConfigError
from ag2api.config.schema import GatewayConfig
from ag2api.services import Services

log = logging.getLogger("ag2api.reload")


def folder_problem(path: Path) -> str | None:
    """Why the folder of ``path`` cannot hold the file (it is created when missing), or None.
    Names no folder: /health shows it."""
    try:
        os.makedirs(path.parent, exist_ok=True)
    except OSError as exc:
        return f"its folder cannot be created ({exc.strerror or type(exc).__name__})"
    return None


class Reloader:
    def __init__(self, services: Services) -> None:
        self.services = services
        # The tokens.json the pool holds, as last read (sha256), and what that read could not
        # open (entries sealed with another key).
        self._tokens_digest: str | None = services.tokens_digest
        self._unreadable: str | None = services.tokens_error if services.tokens_digest else None
        # Other hosts' changes merged into tokens.json (and keys into gateway.yaml) are read at
        # once, not at the next event.
        services.writer.reload = self.reload_tokens
        if services.state.shared_keys is not None:
            services.state.shared_keys.reload = self.reload_config

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
        problem = self._refusal(old, new)
        if problem is not None:
            live.record_error(problem)
            self.services.metrics.reloads.labels("config", "refused").inc()
            return False
        if new == old:
            live.clear_error()
            return False
        pending = live.restart_required
        live.swap(new)
        self.services.metrics.reloads.labels("config", "applied").inc()
        self._apply(old, new)
        changed = [
            f.name
            for f in fields(GatewayConfig)
            if f.compare and getattr(old, f.name) != getattr(new, f.name)
        ]
        log.info("config reloaded from %s (changed: %s)", new.path, ", ".join(changed))
        self._report_restart(pending, live.restart_required)
        return True

    def _refusal(self, old: GatewayConfig, new: GatewayConfig) -> ConfigError | None:
        """Why a valid ``new`` config must not replace ``old``, or None."""
        # server.host is read at start only: the addresses bound and the new one must both be
        # safe (the one a previous edit put in the file is neither in force nor bound).
        exposed = exposure_problem(new, self.services.config.listening) or exposure_problem(new)
        if exposed is not None:
            return exposed
        if new.tokens_file != old.tokens_file:
            unusable = folder_problem(new.tokens_file)
            if unusable is not None:
                return located(str(new.path), new.sources, ("tokens_file",), unusable)
        return None

    @staticmethod
    def _report_restart(before: list[str], now: list[str]) -> None:
        """Start-only settings: an edit is not applied live, and says so until a restart."""
        for name in now:
            if name not in before:
                log.warning("%s changed: not applied until the gateway restarts", name)
        for name in before:
            if name not in now:
                log.info("%s is back to the value in force: no restart needed for it", name)
        if now:
            log.warning("restart required for: %s", ", ".join(now))

    def _apply(self, old: GatewayConfig, new: GatewayConfig) -> None:
        s = self.services
        s.pool.rotation_count = new.rotation.count
        s.dispatcher.slots.per_account = new.limits.per_account
        s.dispatcher.slots.total = new.limits.total
        if new.log_level != old.log_level:
            logging.getLogger().setLevel(new.log_level)
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
            # The file as last applied (e.g. restored after a delete): nothing is wrong with it
            # (but what its last read could not open).
            s.tokens_error = self._unreadable
            s.tokens_error_at = time.time() if self._unreadable else None
            s.writer.file_changed()
            return False
        if s.tokens_error is None and s.writer.wrote(digest, self._tokens_digest):
            # The gateway's own write (refreshed tokens, a last use): the pool holds it already.
            self._tokens_digest = digest
            log.debug("%s rewritten by the gateway: nothing to reload", path)
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
