"""tokens.json: the only code that reads or writes the file.

Format (the original antigravity2api-python's)::

    {"oauth_config": {"client_id": "...", "client_secret": "...", "token_url": "..."},
     "projects": [{"project_id": "...", "refresh_token": "...", "access_token": "...",
                   "expires_at": 1767225600, "enabled": true, "disabled_reason": null}]}

Every write takes ``tokens.json.lock``, re-reads the file, changes only the fields its writer
owns (keyed by ``project_id``), and replaces the file atomically (temp file, fsync, rename, mode
0600), so the gateway, ``scripts/oauth_server.py`` and a person with an editor never lose each
other's changes.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from filelock import FileLock

from ag2api.accounts.model import DEFAULT_TOKEN_URL, Account, OAuthConfig, epoch_seconds

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
    }
)
LOCK_TIMEOUT = 10.0


class TokensFileError(ValueError):
    """tokens.json exists but cannot be used as it is."""


@dataclass(frozen=True)
class TokensFile:
    oauth: OAuthConfig | None
    accounts: tuple[Account, ...]


def parse_tokens(text: str, name: str = "tokens.json") -> TokensFile:
    """Parse the file's text; unknown fields are ignored here and kept on disk by writers."""
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise TokensFileError(f"{name}: invalid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise TokensFileError(f"{name}: the top level must be an object")
    oauth = _parse_oauth(data.get("oauth_config"), name)
    projects = data.get("projects", [])
    if not isinstance(projects, list):
        raise TokensFileError(f"{name}: 'projects' must be a list")
    accounts: list[Account] = []
    seen: set[str] = set()
    for i, raw in enumerate(projects):
        if not isinstance(raw, dict):
            raise TokensFileError(f"{name}: projects[{i}] must be an object")
        pid, refresh = raw.get("project_id"), raw.get("refresh_token")
        if not isinstance(pid, str) or not pid:
            raise TokensFileError(f"{name}: projects[{i}].project_id must be a non-empty string")
        if not isinstance(refresh, str) or not refresh:
            raise TokensFileError(f"{name}: projects[{i}].refresh_token must be a non-empty string")
        if pid in seen:
            raise TokensFileError(f"{name}: project_id {pid!r} appears twice")
        seen.add(pid)
        access = raw.get("access_token")
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
                cooldowns=raw.get("cooldowns") if isinstance(raw.get("cooldowns"), dict) else {},
            )
        )
    return TokensFile(oauth, tuple(accounts))


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


def _opt_str(v: Any) -> str | None:
    return v if isinstance(v, str) and v else None


def read_tokens(path: Path) -> TokensFile:
    """Read the file; a missing file is an empty pool, not an error."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return TokensFile(None, ())
    return parse_tokens(text, str(path))


def lock_for(path: Path) -> FileLock:
    return FileLock(str(path) + ".lock", timeout=LOCK_TIMEOUT)


def update_tokens(path: Path, mutate: Callable[[dict[str, Any]], None]) -> str:
    """Re-read under the lock, let ``mutate`` change the raw document, write it back atomically.

    Returns the text written. A file that does not parse is never overwritten: the person editing
    it would lose their work.
    """
    with lock_for(path):
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            doc: dict[str, Any] = {"projects": []}
        else:
            try:
                doc = json.loads(text)
            except ValueError as exc:
                raise TokensFileError(f"{path}: invalid JSON, not rewriting it: {exc}") from None
            if not isinstance(doc, dict):
                raise TokensFileError(f"{path}: the top level must be an object")
        mutate(doc)
        text = json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
        write_atomic(path, text)
        return text


def write_atomic(path: Path, text: str) -> None:
    """Temp file in the same folder, mode 0600, fsync, rename over, fsync the folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


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
