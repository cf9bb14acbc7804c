"""The gateway's two files as the tests write and read them: tokens.json and gateway.yaml."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import yaml

from ag2api.server.watch import FileWatcher
from ag2api.services import Services
from ag2api.testing.fake_google import FAKE_CLIENT_ID, FAKE_CLIENT_SECRET

# (refresh token, project id) of the accounts the fake upstream knows by default.
DEFAULT_ACCOUNTS = (
    ("rt-one", "proj-alpha-0001"),
    ("rt-two", "proj-beta-0002"),
    ("rt-three", "proj-gamma-0003"),
)


def deep_merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def token_entry(refresh: str, project: str, **fields: Any) -> dict[str, Any]:
    """One ``projects`` entry of tokens.json, as a fresh login leaves it."""
    entry: dict[str, Any] = {
        "project_id": project,
        "refresh_token": refresh,
        "access_token": None,
        "expires_at": 0,
        "enabled": True,
        "disabled_reason": None,
    }
    return {**entry, **fields}


def write_tokens(path: Path, token_url: str, accounts: list[dict[str, Any]]) -> None:
    """tokens.json with the fake Google's OAuth client and ``accounts`` as its projects."""
    doc = {
        "oauth_config": {
            "client_id": FAKE_CLIENT_ID,
            "client_secret": FAKE_CLIENT_SECRET,
            "token_url": token_url,
        },
        "projects": accounts,
    }
    path.write_text(json.dumps(doc, indent=2))


def token_entries(path: Path) -> list[dict[str, Any]]:
    """tokens.json's projects, in the file's order."""
    return list(json.loads(path.read_text())["projects"])


def file_projects(path: Path) -> dict[str, dict[str, Any]]:
    """tokens.json's projects by id."""
    return {p["project_id"]: p for p in token_entries(path)}


def edit_config(path: Path, doc: dict[str, Any], change: dict[str, Any]) -> dict[str, Any]:
    """Write ``doc`` with ``change`` merged in to gateway.yaml; the new document."""
    new = deep_merge(doc, change)
    path.write_text(yaml.safe_dump(new))
    return new


async def reload(
    watcher: FileWatcher,
    services: Services,
    path: Path,
    doc: dict[str, Any],
    change: dict[str, Any],
) -> dict[str, Any]:
    """:func:`edit_config`, then wait until the gateway has applied it; the new document."""
    version = services.config.version
    new = edit_config(path, doc, change)
    await watcher.wait_for(lambda: services.config.version > version)
    return new


def update_config(path: Path, change: dict[str, Any]) -> dict[str, Any]:
    """:func:`edit_config` from what gateway.yaml holds now."""
    return edit_config(path, yaml.safe_load(path.read_text()), change)


def save_in_place(path: Path, text: str) -> None:
    """A person's editor saving without the lock: truncate and write."""
    path.write_text(text)


def save_by_rename(path: Path, text: str) -> None:
    """A person's editor saving without the lock: a file beside it, renamed over it."""
    tmp = path.with_name("editor.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


HAND_SAVES = [save_in_place, save_by_rename]
