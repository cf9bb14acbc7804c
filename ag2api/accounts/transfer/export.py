"""``ag2api accounts export``: tokens.json's accounts in our format or a peer's.

* ``ag2api`` — a tokens.json (``oauth_config`` kept; runtime fields such as cooldowns left out);
* ``nodejs`` — antigravity2api-nodejs ``accounts.json`` (one array);
* ``cliproxy`` — CLIProxyAPI auth files, ``antigravity-<email>.json`` each, into a folder.

With a key set the tokens stay encrypted unless ``plaintext`` is asked for (other tools need it).
"""

from __future__ import annotations

import datetime
import json
import re
import time
from dataclasses import dataclass
from typing import Any

from ag2api.accounts.crypto import SECRET_FIELDS, TokenCipher

FORMATS = ("ag2api", "cliproxy", "nodejs")
# An entry's fields that belong to the running gateway, not to the account.
_RUNTIME = ("cooldowns", "last_used_at")


@dataclass(frozen=True)
class ExportFile:
    name: str  # the file name (cliproxy), or "" for the one document
    text: str


def tokens_of(entry: dict[str, Any], cipher: TokenCipher, plaintext: bool) -> dict[str, Any]:
    """``entry``'s tokens as the export carries them: opened, or sealed with the key."""
    out = {}
    for key in SECRET_FIELDS:
        value = entry.get(key)
        if isinstance(value, str) and value:
            value = cipher.open(value, key) if plaintext else cipher.seal(value, key)
        out[key] = value or None
    return out


def export(doc: dict[str, Any], fmt: str, cipher: TokenCipher, plaintext: bool) -> list[ExportFile]:
    projects = [p for p in doc.get("projects") or () if isinstance(p, dict)]
    if fmt == "ag2api":
        out: dict[str, Any] = {}
        if isinstance(doc.get("oauth_config"), dict):
            out["oauth_config"] = doc["oauth_config"]
        out["projects"] = [
            {
                **{k: v for k, v in p.items() if k not in _RUNTIME},
                **tokens_of(p, cipher, plaintext),
            }
            for p in projects
        ]
        return [ExportFile("", _dump(out))]
    now = time.time()
    if fmt == "nodejs":
        return [ExportFile("", _dump([_nodejs(p, cipher, plaintext, now) for p in projects]))]
    if fmt == "cliproxy":
        files: list[ExportFile] = []
        taken: set[str] = set()
        for p in projects:
            name = _cliproxy_name(p, taken)
            files.append(ExportFile(name, _dump(_cliproxy(p, cipher, plaintext, now))))
        return files
    raise ValueError(f"unknown format {fmt!r} (one of {', '.join(FORMATS)})")


def _left(entry: dict[str, Any], now: float) -> int:
    expires = entry.get("expires_at")
    return max(0, int(float(expires) - now)) if isinstance(expires, int | float) else 0


def _nodejs(entry: dict[str, Any], cipher: TokenCipher, plaintext: bool, now: float) -> Any:
    out: dict[str, Any] = {
        **tokens_of(entry, cipher, plaintext),
        "expires_in": _left(entry, now),
        "timestamp": int(now * 1000),
        "projectId": entry.get("project_id"),
        "enable": entry.get("enabled", True) is not False,
    }
    if entry.get("email"):
        out["email"] = entry["email"]
    if entry.get("disabled_reason") and not out["enable"]:
        out["disableReason"] = entry["disabled_reason"]
    return out


def _cliproxy(entry: dict[str, Any], cipher: TokenCipher, plaintext: bool, now: float) -> Any:
    left = _left(entry, now)
    expired = datetime.datetime.fromtimestamp(now + left).astimezone().replace(microsecond=0)
    out: dict[str, Any] = {
        "type": "antigravity",
        **tokens_of(entry, cipher, plaintext),
        "expires_in": left,
        "timestamp": int(now * 1000),
        "expired": expired.isoformat(),
        "email": entry.get("email") or "",
        "project_id": entry.get("project_id"),
    }
    if entry.get("enabled", True) is False:
        out["disabled"] = True
    if entry.get("proxy"):
        out["proxy_url"] = entry["proxy"]
    if entry.get("user_agent"):
        out["user_agent"] = entry["user_agent"]
    return out


def _cliproxy_name(entry: dict[str, Any], taken: set[str]) -> str:
    """``antigravity-<email>.json`` as CLIProxyAPI names them (made unique and safe)."""
    who = str(entry.get("email") or entry.get("project_id") or "account")
    base = "antigravity-" + re.sub(r"[^\w.@+-]", "_", who)
    name, n = f"{base}.json", 1
    while name in taken:
        n += 1
        name = f"{base}-{n}.json"
    taken.add(name)
    return name


def _dump(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False) + "\n"
