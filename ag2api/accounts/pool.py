"""The account pool: round robin over enabled projects, ``rotation.count`` uses each. No I/O."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from typing import Any

from ag2api.accounts.model import Account
from ag2api.errors import NoAvailableAccount
from ag2api.redact import mask

log = logging.getLogger("ag2api.accounts")

NO_ACCOUNT_HELP = (
    "Add a Google account with `python scripts/oauth_server.py` (or copy "
    "data/tokens.json.example to data/tokens.json and fill it in); re-enable disabled ones in "
    "tokens.json."
)


class AccountPool:
    def __init__(self, accounts: Iterable[Account], rotation_count: int) -> None:
        self.rotation_count = rotation_count
        self._accounts: list[Account] = list(accounts)
        self._index = 0
        self._uses = 0

    @property
    def accounts(self) -> tuple[Account, ...]:
        return tuple(self._accounts)

    def get(self, project_id: str) -> Account | None:
        for account in self._accounts:
            if account.project_id == project_id:
                return account
        return None

    def counts(self) -> tuple[int, int]:
        """(enabled, disabled)."""
        enabled = sum(1 for a in self._accounts if a.enabled)
        return enabled, len(self._accounts) - enabled

    def acquire(self, exclude: frozenset[str] | set[str] = frozenset()) -> Account:
        """The account whose turn it is; each serves ``rotation_count`` uses, then the next one."""
        n = len(self._accounts)
        for _ in range(n):
            account = self._accounts[self._index % n]
            if account.enabled and account.project_id not in exclude:
                self._uses += 1
                log.info(
                    "project %s use %d/%d",
                    mask(account.project_id),
                    self._uses,
                    self.rotation_count,
                )
                if self._uses >= self.rotation_count:
                    self._advance()
                account.last_used_at = time.time()
                return account
            self._advance()
        if not any(a.enabled for a in self._accounts):
            raise NoAvailableAccount(
                "No enabled Google account is configured. " + NO_ACCOUNT_HELP
                if not self._accounts
                else "Every Google account is disabled (see disabled_reason in tokens.json). "
                + NO_ACCOUNT_HELP
            )
        raise NoAvailableAccount("No other enabled account is left to try for this request.")

    def peek(self, exclude: frozenset[str] | set[str] = frozenset()) -> Account | None:
        """An enabled account for housekeeping calls (model list), without taking a turn."""
        for account in self._accounts:
            if account.enabled and account.project_id not in exclude:
                return account
        return None

    def _advance(self) -> None:
        self._index = (self._index + 1) % max(1, len(self._accounts))
        self._uses = 0

    def disable(self, account: Account, reason: str) -> bool:
        """Take ``account`` out of rotation; False when it already was."""
        if not account.enabled:
            return False
        account.enabled = False
        account.disabled_reason = reason
        log.warning("project %s disabled: %s", mask(account.project_id), reason)
        return True

    def replace_accounts(
        self, accounts: Iterable[Account], pending: dict[str, dict[str, Any]] | None = None
    ) -> None:
        """Adopt a re-read tokens file: its projects, in its order, with its enabled states.

        Kept from the running pool: a fresher access token for the same refresh token, and the
        gateway's ``pending`` changes not yet written (so a reload never undoes a disable).
        """
        current = {a.project_id: a for a in self._accounts}
        pending = pending or {}
        merged: list[Account] = []
        for new in accounts:
            old = current.get(new.project_id)
            if (
                old is not None
                and old.refresh_token == new.refresh_token
                and (old.expires_at > new.expires_at)
            ):
                new.access_token, new.expires_at = old.access_token, old.expires_at
            for field_name, value in pending.get(new.project_id, {}).items():
                if hasattr(new, field_name):
                    setattr(new, field_name, value)
            merged.append(new)
        turn = self._accounts[self._index % len(self._accounts)] if self._accounts else None
        self._accounts = merged
        ids = [a.project_id for a in merged]
        if turn is not None and turn.project_id in ids:
            self._index = ids.index(turn.project_id)  # the rotation goes on where it was
        else:
            self._index, self._uses = 0, 0
