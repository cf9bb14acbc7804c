"""Reading the account files of ag2api and its peers into one shape (:class:`Entry`).

Recognised by their content, whatever the file is called:

* **ag2api** — our ``tokens.json`` (the seed's format): ``{"oauth_config"?, "projects": [...]}``.
* **nodejs** — antigravity2api-nodejs ``data/accounts.json``: an array of ``{access_token,
  refresh_token, expires_in, timestamp (ms), projectId?, email?, enable}``.
* **cliproxy** — CLIProxyAPI auth files, one per account: ``{"type": "antigravity", access_token,
  refresh_token, expires_in, timestamp (ms), expired (RFC 3339), email, project_id}``; files of
  its other providers are skipped.
* **antigravity-manager** — its export (an array, or ``{"accounts": [...]}``, of ``{email,
  refresh_token}``), its account files ``accounts/<id>.json`` (``{id, email, token: {...}}``) and
  its data folder (the index ``accounts.json`` names the account files).
* **gcli2api** — its credential files ``{client_id, client_secret, token, refresh_token, scopes,
  token_uri, project_id, expiry}``, one per account, or the zip it exports; Gemini CLI
  credentials (another OAuth client, without the Antigravity scopes) are skipped.
* **antigravity-claude-proxy** — ``{"accounts": [{email, refreshToken, projectId, ...}]}``.

A folder is read file by file (``*.json``), a ``.zip`` member by member.
"""

from __future__ import annotations

import datetime
import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ag2api.accounts.model import epoch_seconds
from ag2api.accounts.oauth_client import GEMINI_CLI_CLIENT_ID, is_placeholder
from ag2api.accounts.proxies import check_proxy, check_user_agent

MAX_FILE_BYTES = 20 * 1024 * 1024


@dataclass
class Entry:
    """One account as read from a file; ``source`` says where (file and position)."""

    source: str
    refresh_token: str
    access_token: str | None = None
    expires_at: float = 0.0
    project_id: str | None = None
    email: str | None = None
    enabled: bool = True
    disabled_reason: str | None = None
    proxy: str | None = None
    user_agent: str | None = None
    client_id: str | None = None


@dataclass(frozen=True)
class Problem:
    source: str
    reason: str


@dataclass
class Reading:
    """What a set of paths held: entries, entries refused (and why), formats seen."""

    entries: list[Entry] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    formats: dict[str, int] = field(default_factory=dict)
    # oauth_config of an imported ag2api tokens.json: (client_id, client_secret)
    clients: list[tuple[str, str]] = field(default_factory=list)

    def add(self, fmt: str, entry: Entry | Problem) -> None:
        if isinstance(entry, Problem):
            self.problems.append(entry)
            return
        self.entries.append(entry)
        self.formats[fmt] = self.formats.get(fmt, 0) + 1


def read_paths(paths: list[Path]) -> Reading:
    reading = Reading()
    for path in paths:
        if path.is_dir():
            files = sorted(p for p in path.iterdir() if p.suffix == ".json" and p.is_file())
            if not files:
                reading.problems.append(Problem(str(path), "no .json file in this folder"))
            for file in files:
                _read_file(file, reading, in_folder=True)
        elif path.suffix == ".zip":
            _read_zip(path, reading)
        else:
            _read_file(path, reading, in_folder=False)
    return reading


def _read_file(path: Path, reading: Reading, in_folder: bool) -> None:
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            reading.problems.append(Problem(str(path), "larger than 20 MiB: not an account file"))
            return
        text = path.read_bytes()
    except OSError as exc:
        reading.problems.append(Problem(str(path), f"cannot read: {exc.strerror or exc}"))
        return
    read_document(text, str(path), reading, folder=path.parent, in_folder=in_folder)


def _read_zip(path: Path, reading: Reading) -> None:
    try:
        with zipfile.ZipFile(path) as archive:
            for info in archive.infolist():
                name = info.filename
                if info.is_dir() or not name.endswith(".json") or name.startswith("__MACOSX/"):
                    continue
                if info.file_size > MAX_FILE_BYTES:
                    reading.problems.append(Problem(f"{path}:{name}", "larger than 20 MiB"))
                    continue
                read_document(archive.read(info), f"{path}:{name}", reading)
    except (OSError, zipfile.BadZipFile) as exc:
        reading.problems.append(Problem(str(path), f"not a readable zip: {exc}"))


def read_document(
    raw: bytes,
    source: str,
    reading: Reading,
    folder: Path | None = None,
    in_folder: bool = False,
) -> None:
    """Detect the format of one JSON document and read its accounts into ``reading``."""
    try:
        data = json.loads(raw.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError) as exc:
        reading.problems.append(Problem(source, f"not JSON: {exc}"))
        return
    if isinstance(data, list):
        fmt = _list_format(data)
        for i, item in enumerate(data):
            reading.add(fmt, entry_from(item, f"{source}[{i}]"))
        return
    if not isinstance(data, dict):
        reading.problems.append(Problem(source, "neither an account nor a list of accounts"))
        return
    if isinstance(data.get("projects"), list):
        oauth = data.get("oauth_config")
        client = None
        cid = str(oauth.get("client_id") or "") if isinstance(oauth, dict) else ""
        if (
            isinstance(oauth, dict)
            and cid
            and oauth.get("client_secret")
            and not is_placeholder(cid)
        ):
            client = cid
            reading.clients.append((client, str(oauth["client_secret"])))
        for i, item in enumerate(data["projects"]):
            entry = entry_from(item, f"{source} projects[{i}]")
            if isinstance(entry, Entry) and entry.client_id is None:
                entry.client_id = client  # its tokens were issued to that file's client
            reading.add("ag2api", entry)
        return
    if isinstance(data.get("accounts"), list):
        _read_account_list(data, source, reading, folder)
        return
    fmt, entry = single(data, source)
    if isinstance(entry, Problem) and in_folder and "not an account" in entry.reason:
        reading.problems.append(Problem(source, "skipped: " + entry.reason))
        return
    reading.add(fmt, entry)


def _list_format(items: list[Any]) -> str:
    dicts = [i for i in items if isinstance(i, dict)]
    if dicts and all(set(d) <= {"email", "refresh_token"} for d in dicts):
        return "antigravity-manager"
    return "nodejs"


def _read_account_list(
    data: dict[str, Any], source: str, reading: Reading, folder: Path | None
) -> None:
    accounts = data["accounts"]
    index = "version" in data or any(
        isinstance(a, dict) and "id" in a and "refresh_token" not in a for a in accounts
    )
    if index:  # Antigravity-Manager's accounts.json: the tokens are in accounts/<id>.json
        if folder is None:
            reading.problems.append(Problem(source, "an account index outside a folder"))
            return
        for i, summary in enumerate(accounts):
            ident = summary.get("id") if isinstance(summary, dict) else None
            if not isinstance(ident, str) or "/" in ident or not ident:
                reading.problems.append(Problem(f"{source} accounts[{i}]", "no account id"))
                continue
            _read_file(folder / "accounts" / f"{ident}.json", reading, in_folder=False)
        return
    fmt = (
        "antigravity-claude-proxy"
        if any(isinstance(a, dict) and "refreshToken" in a for a in accounts)
        else "antigravity-manager"
    )
    for i, item in enumerate(accounts):
        reading.add(fmt, entry_from(item, f"{source} accounts[{i}]"))


def single(data: dict[str, Any], source: str) -> tuple[str, Entry | Problem]:
    """One account object: which format it is, and the entry (or why not)."""
    kind = data.get("type")
    if isinstance(kind, str):
        if kind.lower() != "antigravity":
            return "cliproxy", Problem(source, f"not an account of Antigravity (type {kind!r})")
        return "cliproxy", entry_from(data, source)
    if isinstance(data.get("token"), dict):
        return "antigravity-manager", entry_from(data, source)
    if "client_id" in data and ("scopes" in data or "token_uri" in data or "expiry" in data):
        if data.get("client_id") == GEMINI_CLI_CLIENT_ID:
            return "gcli2api", Problem(
                source, "a Gemini CLI credential, not an Antigravity one (other OAuth client)"
            )
        return "gcli2api", entry_from(data, source)
    if "refresh_token" in data or "refreshToken" in data:
        return "account", entry_from(data, source)
    return "unknown", Problem(source, "not an account file of a known format")


def entry_from(item: Any, source: str) -> Entry | Problem:
    """An Entry from any of the formats' account objects (their field names all differ)."""
    if not isinstance(item, dict):
        return Problem(source, "not an object")
    raw_token = item.get("token")
    token: dict[str, Any] = raw_token if isinstance(raw_token, dict) else {}
    refresh = _first_str(item, token, "refresh_token", "refreshToken")
    if refresh is None:
        return Problem(source, "no refresh token")
    access = _first_str(item, token, "access_token", "accessToken")
    if access is None and isinstance(item.get("token"), str):
        access = item["token"]  # gcli2api
    try:
        proxy = check_proxy(_first_str(item, {}, "proxy", "proxy_url", "proxy-url"))
        agent = check_user_agent(_first_str(item, {}, "user_agent"))
    except ValueError as exc:
        return Problem(source, f"proxy or user_agent {exc}")
    enabled = _enabled(item)
    reason = _first_str(item, {}, "disabled_reason", "disableReason", "invalidReason")
    return Entry(
        source=source,
        refresh_token=refresh,
        access_token=access,
        expires_at=expiry_of(item, token),
        project_id=_first_str(item, token, "project_id", "projectId"),
        email=_first_str(item, token, "email"),
        enabled=enabled,
        disabled_reason=None if enabled else (reason or "disabled in the imported file"),
        proxy=proxy,
        user_agent=agent,
        client_id=_first_str(item, {}, "client_id"),
    )


def _first_str(item: dict[str, Any], inner: dict[str, Any], *keys: str) -> str | None:
    for where in (item, inner):
        for key in keys:
            value = where.get(key)
            if isinstance(value, str) and value.strip():
                return value.strip()
    return None


def _enabled(item: dict[str, Any]) -> bool:
    for key in ("enabled", "enable"):
        if isinstance(item.get(key), bool):
            return bool(item[key])
    return all(item.get(key) is not True for key in ("disabled", "isInvalid"))


def expiry_of(item: dict[str, Any], token: dict[str, Any]) -> float:
    """When the access token expires (epoch seconds; 0: unknown), in whichever way it is said."""
    if (at := item.get("expires_at")) is not None:
        return epoch_seconds(at)
    for text in (item.get("expired"), item.get("expiry")):
        if isinstance(text, str) and (when := _iso(text)) is not None:
            return when
    if isinstance(token.get("expiry_timestamp"), int | float):
        return epoch_seconds(token["expiry_timestamp"])
    stamp, life = item.get("timestamp"), item.get("expires_in")
    if isinstance(stamp, int | float) and isinstance(life, int | float):
        return epoch_seconds(stamp) + float(life)
    return 0.0


def _iso(text: str) -> float | None:
    try:
        when = datetime.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=datetime.UTC)
    return when.timestamp()
