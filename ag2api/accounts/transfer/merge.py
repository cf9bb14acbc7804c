"""Adding read entries to tokens.json: duplicates merged, missing projects looked up.

Two entries are the same account when they share a refresh token or an email. Within what is
imported the first wins and later ones only fill what it lacks; against tokens.json an entry with
a new refresh token replaces the account's tokens (a newer sign-in), one with the same token only
fills what the file lacks. Everything is written in one locked update, so a running gateway
re-reads the file once and serves the new accounts within a second.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ag2api.accounts.crypto import CannotDecrypt, TokenCipher
from ag2api.accounts.google_calls import (
    GoogleCallFailed,
    Route,
    find_project,
    refresh_access_token,
)
from ag2api.accounts.model import OAuthConfig
from ag2api.accounts.oauth_client import alternatives, client_for
from ag2api.accounts.store import update_tokens
from ag2api.accounts.transfer.formats import Entry, Problem
from ag2api.redact import mask

# An access token with less life than this is refreshed before the project lookup.
FRESH_ENOUGH = 120.0
# Refresh answers that mean "this refresh token belongs to another OAuth client".
_WRONG_CLIENT = ("unauthorized_client", "invalid_client")


@dataclass
class Outcome:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    merged: int = 0  # duplicates folded into another imported entry
    problems: list[Problem] = field(default_factory=list)


def fold_duplicates(entries: list[Entry]) -> tuple[list[Entry], int]:
    """One entry per account (same refresh token or email); later ones fill the first's gaps."""
    kept: list[Entry] = []
    by_key: dict[str, Entry] = {}
    merged = 0
    for entry in entries:
        keys = [f"rt:{entry.refresh_token}"]
        if entry.email:
            keys.append(f"em:{entry.email.lower()}")
        first = next((by_key[k] for k in keys if k in by_key), None)
        if first is None:
            kept.append(entry)
            first = entry
        else:
            merged += 1
            _fill(first, entry)
        for key in keys:
            by_key.setdefault(key, first)
    return kept, merged


def _fill(into: Entry, other: Entry) -> None:
    for name in ("project_id", "email", "proxy", "user_agent", "client_id"):
        if getattr(into, name) is None and getattr(other, name) is not None:
            setattr(into, name, getattr(other, name))
    if into.refresh_token == other.refresh_token and other.expires_at > into.expires_at:
        into.access_token, into.expires_at = other.access_token, other.expires_at


class ProjectFinder:
    """Looks up the project of an entry that has none (loadCodeAssist, onboarding if needed),
    refreshing its access token first when needed — through the entry's own proxy."""

    def __init__(
        self,
        default_client: OAuthConfig,
        environ: dict[str, str],
        api_base: str,
        route: Callable[[Entry], Route],
        onboard: tuple[int, float] = (10, 3.0),
    ) -> None:
        self.default = default_client
        self.environ = environ
        self.api_base = api_base
        self.route = route
        self.onboard = onboard

    def fill(self, entry: Entry) -> Problem | None:
        """Give ``entry`` its project; the reason when that cannot be done."""
        route = self.route(entry)
        try:
            token = self._access_token(entry, route)
            entry.project_id = find_project(self.api_base, token, route, *self.onboard)
        except GoogleCallFailed as exc:
            return Problem(entry.source, f"no project, and looking it up failed: {exc}")
        return None

    def _access_token(self, entry: Entry, route: Route) -> str:
        if entry.access_token and entry.expires_at - time.time() > FRESH_ENOUGH:
            return entry.access_token
        client = client_for(entry.client_id, self.default, self.environ)
        if client is None:
            raise GoogleCallFailed(f"no secret is known for its OAuth client {entry.client_id}")
        tried = [client] + ([] if entry.client_id else alternatives(client))
        last: GoogleCallFailed | None = None
        for candidate in tried:
            try:
                answer = refresh_access_token(candidate, entry.refresh_token, route)
            except GoogleCallFailed as exc:
                if exc.error in _WRONG_CLIENT:
                    last = exc
                    continue
                if exc.error == "invalid_grant":
                    raise GoogleCallFailed(
                        "its refresh token is no longer valid (invalid_grant): sign in again"
                    ) from None
                raise
            token = answer.get("access_token")
            if not isinstance(token, str) or not token:
                raise GoogleCallFailed("the token endpoint answered without an access token")
            entry.access_token = token
            entry.expires_at = time.time() + float(answer.get("expires_in") or 3599)
            if candidate.client_id != self.default.client_id:
                entry.client_id = candidate.client_id
            if isinstance(answer.get("refresh_token"), str) and answer["refresh_token"]:
                entry.refresh_token = answer["refresh_token"]
            return token
        assert last is not None
        raise last


def merge_into(
    path: Path,
    entries: list[Entry],
    cipher: TokenCipher,
    default_client_id: str,
    oauth_config: dict[str, str] | None = None,
) -> Outcome:
    """Add ``entries`` (each with a project) to tokens.json in one locked update; with
    ``oauth_config``, that becomes the file's client (it had none)."""
    outcome = Outcome()

    def mutate(doc: dict[str, Any]) -> None:
        # May run again when the file changed under the write: start each run afresh.
        outcome.added, outcome.updated = [], []
        outcome.problems = []
        if oauth_config is not None:
            doc["oauth_config"] = dict(oauth_config)
        projects = doc.setdefault("projects", [])
        for entry in entries:
            _merge_one(projects, entry, cipher, default_client_id, outcome)

    update_tokens(path, mutate, cipher=cipher)
    return outcome


def _merge_one(
    projects: list[Any],
    entry: Entry,
    cipher: TokenCipher,
    default_client_id: str,
    outcome: Outcome,
) -> None:
    assert entry.project_id is not None
    label = entry.email or mask(entry.project_id)
    existing = _match(projects, entry, cipher)
    if existing is None:
        owners = (p for p in projects if isinstance(p, dict))
        clash = next((p for p in owners if p.get("project_id") == entry.project_id), None)
        if clash is not None:
            outcome.problems.append(
                Problem(
                    entry.source,
                    f"project {mask(entry.project_id)} belongs to another "
                    "account in tokens.json (a project id names one account there)",
                )
            )
            return
        new: dict[str, Any] = {"project_id": entry.project_id}
        _set_tokens(new, entry, default_client_id)
        projects.append(new)
        outcome.added.append(label)
        return
    current = _open(existing.get("refresh_token"), "refresh_token", cipher)
    if current != entry.refresh_token:
        _set_tokens(existing, entry, default_client_id)
    elif entry.expires_at > float(existing.get("expires_at") or 0) and entry.access_token:
        existing["access_token"], existing["expires_at"] = entry.access_token, int(entry.expires_at)
    for key in ("email", "proxy", "user_agent"):
        if not existing.get(key) and getattr(entry, key):
            existing[key] = getattr(entry, key)
    outcome.updated.append(label)


def _set_tokens(target: dict[str, Any], entry: Entry, default_client_id: str) -> None:
    target.update(
        {
            "refresh_token": entry.refresh_token,
            "access_token": entry.access_token,
            "expires_at": int(entry.expires_at),
            "enabled": entry.enabled,
            "disabled_reason": entry.disabled_reason,
        }
    )
    target.pop("cooldowns", None)
    for key in ("email", "proxy", "user_agent"):
        if getattr(entry, key):
            target[key] = getattr(entry, key)
    if entry.client_id and entry.client_id != default_client_id:
        target["client_id"] = entry.client_id
    else:
        target.pop("client_id", None)


def _match(projects: list[Any], entry: Entry, cipher: TokenCipher) -> dict[str, Any] | None:
    email = entry.email.lower() if entry.email else None
    for p in projects:
        if not isinstance(p, dict):
            continue
        if _open(p.get("refresh_token"), "refresh_token", cipher) == entry.refresh_token:
            return p
        if email and isinstance(p.get("email"), str) and p["email"].lower() == email:
            return p
    return None


def _open(value: Any, field_name: str, cipher: TokenCipher) -> str | None:
    if not isinstance(value, str):
        return None
    try:
        return cipher.open(value, field_name)
    except CannotDecrypt:
        return None
