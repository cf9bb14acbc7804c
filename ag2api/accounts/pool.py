"""The account pool: round robin over enabled projects, ``rotation.count`` uses each. No I/O."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from ag2api.accounts.model import Account
from ag2api.errors import NoAvailableAccount, NoUsableAccount
from ag2api.redact import mask, mask_projects

log = logging.getLogger("ag2api.accounts")

NO_ACCOUNT_HELP = (
    "Add a Google account with `ag2api login` (or `python scripts/oauth_server.py` in a "
    "clone); re-enable disabled ones in tokens.json."
)


# The reason of a cooldown for a used-up quota (a 429 QUOTA_EXHAUSTED, or a quota check).
QUOTA_EXHAUSTED = "QUOTA_EXHAUSTED"


class AllCooling(Exception):
    """Every account that could serve this model is cooling down."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(f"every account is cooling down; the first recovers in {retry_after:.0f}s")
        self.retry_after = retry_after


class NoRoom(Exception):
    """Accounts are available but all their concurrency slots are taken."""


@dataclass(frozen=True)
class Pick:
    account: Account
    # A half-open probe: the first request after a capped cooldown (one at a time).
    probe: bool


class AccountPool:
    def __init__(
        self,
        accounts: Iterable[Account],
        rotation_count: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.rotation_count = rotation_count
        self.clock = clock
        self._accounts: list[Account] = list(accounts)
        self._index = 0
        self._uses = 0
        self._probing: set[tuple[str, str]] = set()

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

    # -- cooldowns per (account, model) -----------------------------------------------
    @staticmethod
    def cooling_until(account: Account, model: str, now: float) -> float | None:
        entry = account.cooldowns.get(model)
        until = entry.get("until") if isinstance(entry, dict) else None
        return float(until) if isinstance(until, int | float) and until > now else None

    def _state(self, account: Account, model: str, now: float) -> str:
        """ready, probe (a capped cooldown is over: one request tests it), busy_probe, cooling."""
        if self.cooling_until(account, model, now) is not None:
            return "cooling"
        entry = account.cooldowns.get(model)
        if isinstance(entry, dict) and entry.get("probe"):
            return "busy_probe" if (account.project_id, model) in self._probing else "probe"
        return "ready"

    def cool(
        self, account: Account, model: str, until: float, reason: str, probe: bool = False
    ) -> None:
        """Keep ``account`` away from ``model`` until ``until``; with ``probe`` (the cooldown was
        capped short of the real reset) the first request after it tests the quota alone."""
        entry: dict[str, Any] = {"until": round(until, 3), "reason": reason}
        if probe:
            entry["probe"] = True
        account.cooldowns[model] = entry
        self._probing.discard((account.project_id, model))
        log.info(
            "project %s cooling for %s until %s (%s)",
            mask(account.project_id),
            model,
            time.strftime("%H:%M:%S", time.localtime(until)),
            reason,
        )

    def end_probe(self, account: Account, model: str, ok: bool) -> bool:
        """A probe finished; a successful one clears the cooldown. True if cooldowns changed."""
        self._probing.discard((account.project_id, model))
        if (
            ok
            and model in account.cooldowns
            and self.cooling_until(account, model, self.clock()) is None
        ):
            del account.cooldowns[model]
            return True
        return False

    def forget_expired(self, account: Account, now: float) -> bool:
        """Drop expired cooldowns that need no probe; True if any was dropped."""
        stale = [
            m
            for m, e in account.cooldowns.items()
            if isinstance(e, dict)
            and not e.get("probe")
            and self.cooling_until(account, m, now) is None
        ]
        for model in stale:
            del account.cooldowns[model]
        return bool(stale)

    def earliest_recovery(self, model: str, now: float) -> float | None:
        times = [
            u
            for a in self._accounts
            if a.enabled
            if (u := self.cooling_until(a, model, now)) is not None
        ]
        return min(times) - now if times else None

    # -- choosing an account -------------------------------------------------------------
    def standing(
        self,
        account: Account,
        model: str,
        exclude: frozenset[str] | set[str] = frozenset(),
        has_room: Callable[[str], bool] = lambda _pid: True,
    ) -> str:
        """What ``account`` can do for ``model`` now: ready, probe (a capped cooldown is over:
        one request tests it), cooling, busy_probe, full (no free slot), excluded, disabled."""
        if not account.enabled:
            return "disabled"
        if account.project_id in exclude:
            return "excluded"
        state = self._state(account, model, self.clock()) if model else "ready"
        if state in ("ready", "probe") and not has_room(account.project_id):
            return "full"
        return state

    def take(self, account: Account, model: str, probe: bool) -> Pick:
        """Record one use of ``account`` (its turn was decided elsewhere)."""
        account.last_used_at = self.clock()
        account.uses += 1
        if probe:
            self._probing.add((account.project_id, model))
        return Pick(account, probe)

    def acquire(
        self,
        model: str = "",
        exclude: frozenset[str] | set[str] = frozenset(),
        has_room: Callable[[str], bool] = lambda _pid: True,
        order: Sequence[Account] | None = None,
    ) -> Pick:
        """The account whose turn it is; each serves ``rotation_count`` uses, then the next one.
        With ``order``, the first of those accounts that can serve instead (no turn is taken).

        Skipped: disabled, excluded, cooling for ``model``, or with no free slot. Raises
        NoAvailableAccount (nothing enabled/left), AllCooling, or NoRoom (wait for a slot).
        """
        if order is not None:
            return self._first_of(order, model, exclude, has_room)
        n = len(self._accounts)
        saw_cooling = saw_full = False
        for _ in range(n):
            account = self._accounts[self._index % n]
            state = self.standing(account, model, exclude, has_room)
            if state in ("ready", "probe"):
                self._uses += 1
                if log.isEnabledFor(logging.DEBUG):  # mask() is not free: not for every request
                    log.debug(
                        "project %s use %d/%d",
                        mask(account.project_id),
                        self._uses,
                        self.rotation_count,
                    )
                if self._uses >= self.rotation_count:
                    self._advance()
                return self.take(account, model, state == "probe")
            saw_cooling |= state in ("cooling", "busy_probe")
            saw_full |= state == "full"
            self._advance()
        raise self._none_for(model, saw_cooling, saw_full)

    def _first_of(
        self,
        order: Sequence[Account],
        model: str,
        exclude: frozenset[str] | set[str],
        has_room: Callable[[str], bool],
    ) -> Pick:
        saw_cooling = saw_full = False
        for account in order:
            state = self.standing(account, model, exclude, has_room)
            if state in ("ready", "probe"):
                return self.take(account, model, state == "probe")
            saw_cooling |= state in ("cooling", "busy_probe")
            saw_full |= state == "full"
        raise self._none_for(model, saw_cooling, saw_full)

    def _none_for(self, model: str, saw_cooling: bool, saw_full: bool) -> Exception:
        if saw_full:
            return NoRoom()
        if saw_cooling:
            retry = self.earliest_recovery(model, self.clock())
            return AllCooling(retry if retry is not None else 1.0)
        if not any(a.enabled for a in self._accounts):
            return NoUsableAccount(
                "No enabled Google account is configured. " + NO_ACCOUNT_HELP
                if not self._accounts
                else "Every Google account is disabled (see disabled_reason in tokens.json). "
                + NO_ACCOUNT_HELP
            )
        return NoAvailableAccount("No other enabled account is left to try for this request.")

    def out_of_quota(self, account: Account, model: str) -> bool:
        """Whether ``account`` is cooling for ``model`` because its quota is used up (not for a
        rate limit): it may still serve on credits."""
        entry = account.cooldowns.get(model)
        return (
            isinstance(entry, dict)
            and str(entry.get("reason") or "").startswith(QUOTA_EXHAUSTED)
            and self.cooling_until(account, model, self.clock()) is not None
        )

    def rotation_order(self) -> list[Account]:
        """The accounts from the one whose turn it is, round the pool."""
        n = len(self._accounts)
        return [self._accounts[(self._index + i) % n] for i in range(n)]

    def turn_after(self, account: Account) -> None:
        """The next turn goes to the account after ``account`` (a balanced pick took it)."""
        for i, a in enumerate(self._accounts):
            if a is account:
                self._index, self._uses = (i + 1) % len(self._accounts), 0
                return

    def has_other(self, model: str, exclude: set[str], has_room: Callable[[str], bool]) -> bool:
        """Whether another account could take this request right now."""
        now = self.clock()
        return any(
            a.enabled
            and a.project_id not in exclude
            and has_room(a.project_id)
            and self._state(a, model, now) in ("ready", "probe")
            for a in self._accounts
        )

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
        """Take ``account`` out of rotation; False when it already was. The reason is kept (and
        logged) with its project id masked: /health and /admin show it."""
        if not account.enabled:
            return False
        reason = mask_projects(reason, (account.project_id,))
        account.enabled = False
        account.disabled_reason = reason
        log.warning("project %s disabled: %s", mask(account.project_id), reason)
        return True

    def change_reason(self, account: Account, reason: str) -> bool:
        """A disabled account is out for another reason now; False when enabled or unchanged."""
        reason = mask_projects(reason, (account.project_id,))
        if account.enabled or account.disabled_reason == reason:
            return False
        account.disabled_reason = reason
        log.warning("project %s still disabled: %s", mask(account.project_id), reason)
        return True

    def enable(self, account: Account) -> bool:
        """Back into rotation; False when it already was."""
        if account.enabled:
            return False
        account.enabled = True
        account.disabled_reason = None
        log.info("project %s enabled again", mask(account.project_id))
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
            if old is not None:
                new.uses = old.uses
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
