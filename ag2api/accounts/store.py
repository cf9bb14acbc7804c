"""tokens.json: the only code that reads or writes the file.

Format (the original antigravity2api-python's)::

    {"oauth_config": {"client_id": "...", "client_secret": "...", "token_url": "..."},
     "projects": [{"project_id": "...", "refresh_token": "...", "access_token": "...",
                   "expires_at": 1767225600, "enabled": true, "disabled_reason": null}]}

``oauth_config`` is optional (:mod:`ag2api.accounts.oauth_client`); a project may add ``email``,
``proxy``, ``user_agent`` (:mod:`ag2api.accounts.proxies`) and ``client_id``. With a key set
(:mod:`ag2api.accounts.crypto`) the token fields hold ``"enc:v1:…"``: they are opened as the file
is parsed and every plaintext token is sealed as the file is written.

Every write takes ``tokens.json.lock``, re-reads the file, changes only the fields its writer
owns (keyed by ``project_id``), and replaces the file atomically (temp file, fsync, rename, mode
0600), so the gateway, ``scripts/oauth_server.py`` and a person with an editor never lose each
other's changes. An editor does not take the lock, so just before the rename the writer checks
the file is still the one it read and starts over when it is not (:mod:`ag2api.safewrite`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ag2api.accounts.crypto import SECRET_FIELDS, CannotDecrypt, TokenCipher, unreadable_message
from ag2api.accounts.model import DEFAULT_TOKEN_URL, Account, OAuthConfig, epoch_seconds
from ag2api.accounts.proxies import check_proxy, check_user_agent
from ag2api.redact import mask
from ag2api.safewrite import (
    WRITE_ATTEMPTS,
    FileState,
    lock_for,
    read_state,
    write_atomic,
)
from ag2api.safewrite import changes_soon as _changes_soon

# The fields the running gateway may change; everything else belongs to people and the script.
GATEWAY_FIELDS = frozenset(
    {
        "access_token",
        "expires_at",
        "refresh_token",
        "enabled",
        "disabled_reason",
        "last_used_at",
        "cooldowns",
        "client_id",
    }
)
# The fields an Account is built from; the rest of an entry is kept in ``Account.extra``.
ACCOUNT_FIELDS = GATEWAY_FIELDS | {"project_id", "email", "proxy", "user_agent", "use_credits"}


class TokensFileError(ValueError):
    """tokens.json exists but cannot be used as it is."""


class TokensPathError(TokensFileError):
    """The path cannot be read as a file at all (a folder, no permission)."""


class TokensFileMissing(TokensFileError):
    """tokens.json does not exist (raised only to writers that must not create an empty one)."""


class TokensFileBusy(TokensFileError):
    """tokens.json kept changing while a write was being prepared."""


@dataclass(frozen=True)
class TokensFile:
    oauth: OAuthConfig | None
    accounts: tuple[Account, ...]
    # Entries whose tokens the key cannot open (left out of ``accounts``), and why.
    unreadable: str | None = None
    digest: str | None = None  # sha256 (hex) of the file as read; None: no file read


def parse_tokens(
    text: str | bytes, name: str = "tokens.json", cipher: TokenCipher | None = None
) -> TokensFile:
    """Parse the file's text; unknown fields are ignored here and kept on disk by writers.

    With ``cipher`` the tokens are opened; entries it cannot open are left out and named in
    ``unreadable``. Without, sealed tokens stay as they are (for readers that never use them).
    """
    data = _load_json(text, name)
    if not isinstance(data, dict):
        raise TokensFileError(f"{name}: the top level must be an object")
    oauth = _parse_oauth(data.get("oauth_config"), name)
    projects = data.get("projects", [])
    if not isinstance(projects, list):
        raise TokensFileError(f"{name}: 'projects' must be a list")
    accounts: list[Account] = []
    seen: set[str] = set()
    locked: list[str] = []
    missing_key = False
    for i, raw in enumerate(projects):
        if not isinstance(raw, dict):
            raise TokensFileError(f"{name}: projects[{i}] must be an object")
        pid, refresh = raw.get("project_id"), raw.get("refresh_token")
        if not isinstance(pid, str) or not pid:
            raise TokensFileError(f"{name}: projects[{i}].project_id must be a non-empty string")
        if not isinstance(refresh, str) or not refresh:
            raise TokensFileError(f"{name}: projects[{i}].refresh_token must be a non-empty string")
        if pid in seen:
            raise TokensFileError(f"{name}: project_id {mask(pid)!r} appears twice")
        seen.add(pid)
        access, cooldowns = raw.get("access_token"), raw.get("cooldowns")
        proxy, agent = _checked(raw, i, name)
        if cipher is not None:
            try:
                refresh = cipher.open(refresh, "refresh_token")
                access = cipher.open(access, "access_token") if isinstance(access, str) else None
            except CannotDecrypt as exc:
                locked.append(_label(raw))
                missing_key |= exc.missing_key
                continue
        accounts.append(
            Account(
                project_id=pid,
                refresh_token=refresh,
                access_token=access if isinstance(access, str) and access else None,
                expires_at=epoch_seconds(raw.get("expires_at")),
                enabled=raw.get("enabled", True) is not False,
                disabled_reason=_opt_str(raw.get("disabled_reason")),
                email=_opt_str(raw.get("email")),
                last_used_at=epoch_seconds(raw.get("last_used_at")) or None,
                cooldowns=cooldowns if isinstance(cooldowns, dict) else {},
                proxy=proxy,
                user_agent=agent,
                client_id=_opt_str(raw.get("client_id")),
                use_credits=_opt_bool(raw, "use_credits", i, name),
                extra={k: v for k, v in raw.items() if k not in ACCOUNT_FIELDS},
            )
        )
    problem = unreadable_message(name, locked, missing_key) if locked else None
    return TokensFile(oauth, tuple(accounts), problem)


def _checked(raw: dict[str, Any], i: int, name: str) -> tuple[str | None, str | None]:
    """The entry's proxy and user_agent, checked."""
    try:
        proxy = check_proxy(raw.get("proxy"))
    except ValueError as exc:
        raise TokensFileError(f"{name}: projects[{i}].proxy {exc}") from None
    try:
        agent = check_user_agent(raw.get("user_agent"))
    except ValueError as exc:
        raise TokensFileError(f"{name}: projects[{i}].user_agent {exc}") from None
    return proxy, agent


def _label(raw: dict[str, Any]) -> str:
    """An entry as an error message may name it: its email, else its masked project id."""
    email = raw.get("email")
    return email if isinstance(email, str) and email else mask(str(raw.get("project_id")))


def _load_json(text: str | bytes, name: str) -> Any:
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise TokensFileError(
                f"{name}: not UTF-8 text (byte {exc.object[exc.start]:#04x} at offset {exc.start})"
            ) from exc
    try:
        return json.loads(text)
    except ValueError as exc:
        raise TokensFileError(f"{name}: invalid JSON: {exc}") from exc


def _parse_oauth(raw: Any, name: str) -> OAuthConfig | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise TokensFileError(f"{name}: 'oauth_config' must be an object")
    cid, secret = raw.get("client_id"), raw.get("client_secret")
    if not isinstance(cid, str) or not isinstance(secret, str) or not cid or not secret:
        raise TokensFileError(f"{name}: oauth_config needs client_id and client_secret")
    url = raw.get("token_url") or DEFAULT_TOKEN_URL
    if not isinstance(url, str):
        raise TokensFileError(f"{name}: oauth_config.token_url must be a string")
    return OAuthConfig(cid, secret, url)


def _opt_bool(raw: dict[str, Any], key: str, i: int, name: str) -> bool | None:
    value = raw.get(key)
    if value is None or isinstance(value, bool):
        return value
    raise TokensFileError(f"{name}: projects[{i}].{key} must be true or false")


def _opt_str(v: Any) -> str | None:
    return v if isinstance(v, str) and v else None


def read_tokens(path: Path, cipher: TokenCipher | None = None) -> TokensFile:
    """Read the file; a missing file is an empty pool, not an error."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return TokensFile(None, ())
    except OSError as exc:
        raise path_error(path, exc) from exc
    parsed = parse_tokens(data, str(path), cipher)
    return replace(parsed, digest=hashlib.sha256(data).hexdigest())


def path_error(path: Path, exc: OSError) -> TokensPathError:
    """One line saying why ``path`` cannot be read as tokens.json."""
    if isinstance(exc, IsADirectoryError):
        return TokensPathError(
            f"{path} is a folder, not a file (a Docker bind mount of a file that did not exist "
            "creates one): remove it, or point tokens_file at a file"
        )
    return TokensPathError(f"{path}: cannot read: {exc.strerror or exc}")


def tokens_document(oauth: OAuthConfig | None, accounts: Iterable[Account]) -> dict[str, Any]:
    """A whole tokens.json from accounts in memory (to recreate a file that was deleted)."""
    doc: dict[str, Any] = {}
    if oauth is not None:
        doc["oauth_config"] = {
            "client_id": oauth.client_id,
            "client_secret": oauth.client_secret,
            "token_url": oauth.token_url,
        }
    projects = []
    for a in accounts:
        entry = {
            **a.extra,
            "project_id": a.project_id,
            "refresh_token": a.refresh_token,
            "access_token": a.access_token,
            "expires_at": int(a.expires_at),
            "enabled": a.enabled,
            "disabled_reason": a.disabled_reason,
        }
        if a.email:
            entry["email"] = a.email
        if a.last_used_at:
            entry["last_used_at"] = int(a.last_used_at)
        if a.cooldowns:
            entry["cooldowns"] = dict(a.cooldowns)
        for key in ("proxy", "user_agent", "client_id"):
            if getattr(a, key):
                entry[key] = getattr(a, key)
        if a.use_credits is not None:
            entry["use_credits"] = a.use_credits
        projects.append(entry)
    doc["projects"] = projects
    return doc


def empty_document() -> dict[str, Any]:
    return {"projects": []}


def update_tokens(
    path: Path,
    mutate: Callable[[dict[str, Any]], None],
    *,
    create: Callable[[], dict[str, Any]] | None = empty_document,
    cipher: TokenCipher | None = None,
    replacing: Callable[[str | None, str], None] | None = None,
) -> str:
    """Re-read under the lock, let ``mutate`` change the raw document, write it back atomically.

    Returns the text written. A file that does not parse is never overwritten: the person editing
    it would lose their work. A missing file starts from ``create()``; with ``create=None`` it
    raises :class:`TokensFileMissing` instead. ``mutate`` may run more than once, each time on a
    freshly read document: when the file changes between the read and the rename (someone saved
    it without the lock), the write starts over rather than undo that save. With a ``cipher``
    that has a key, every plaintext token in the document is sealed on the way out.
    ``replacing(before, after)`` is told the sha256 (hex) of the file as read (None: missing) and
    of the text about to replace it, before it does.
    """
    with lock_for(path):
        for attempt in range(1, WRITE_ATTEMPTS + 1):
            seen, data = _read(path)
            if data is None:
                if create is None:
                    raise TokensFileMissing(f"{path}: the file is missing")
                doc = create()
            else:
                try:
                    doc = _load_json(data, str(path))
                except TokensFileError:
                    # Half of someone's save (written in place)? Then it changes in a moment.
                    if attempt < WRITE_ATTEMPTS and _changes_soon(path, seen):
                        continue
                    raise
                if not isinstance(doc, dict):
                    raise TokensFileError(f"{path}: the top level must be an object")
            mutate(doc)
            if cipher is not None:
                seal_document(doc, cipher)
            text = json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
            if replacing is not None:
                after = hashlib.sha256(text.encode("utf-8")).hexdigest()
                replacing(seen.digest.hex() if seen.key is not None else None, after)
            if write_atomic(path, text, unless_changed_from=seen):
                return text
        raise TokensFileBusy(f"{path} kept changing while being written; not overwriting it")


def seal_document(doc: dict[str, Any], cipher: TokenCipher) -> None:
    """Encrypt every plaintext token of ``doc``'s projects (sealed ones are left as they are)."""
    for entry in doc.get("projects") or ():
        if isinstance(entry, dict):
            for key in SECRET_FIELDS:
                value = entry.get(key)
                if isinstance(value, str) and value:
                    entry[key] = cipher.seal(value, key)


def _read(path: Path) -> tuple[FileState, bytes | None]:
    try:
        return read_state(path)
    except OSError as exc:
        raise path_error(path, exc) from exc


def apply_gateway_changes(doc: dict[str, Any], changes: dict[str, dict[str, Any]]) -> None:
    """Set the gateway-owned fields in ``changes`` on the projects still in ``doc``.

    A project that is no longer in the file was removed by a person: it is not resurrected.
    """
    projects = doc.get("projects")
    if not isinstance(projects, list):
        return
    for entry in projects:
        if not isinstance(entry, dict):
            continue
        fields = changes.get(entry.get("project_id"))  # type: ignore[arg-type]
        if fields:
            for key, value in fields.items():
                if key in GATEWAY_FIELDS:
                    entry[key] = value
