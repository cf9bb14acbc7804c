"""Import and export for the console: uploaded account files into tokens.json, and tokens.json
out as a download.

This is the seam to ``ag2api accounts import/export``: the console passes the uploaded files and
the chosen format through here and nowhere else. Until those commands' readers are in, it reads
and writes ag2api's own tokens.json format (the seed's), merging by project id and email under the
file's lock.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ag2api.accounts.store import TokensFileError, parse_tokens, update_tokens
from ag2api.config.schema import GatewayConfig
from ag2api.redact import mask

FORMATS = ("ag2api",)


@dataclass(frozen=True)
class ImportFile:
    name: str
    data: bytes


def import_files(cfg: GatewayConfig, files: list[ImportFile]) -> dict[str, Any]:
    """Add (or refresh) the accounts in ``files``; bad files are reported and skipped."""
    entries: list[dict[str, Any]] = []
    skipped: list[dict[str, str]] = []
    client: dict[str, str] | None = None
    for upload in files:
        try:
            parsed = parse_tokens(upload.data, upload.name)
        except TokensFileError as exc:
            skipped.append({"file": upload.name, "reason": str(exc)})
            continue
        if parsed.oauth is not None and client is None:
            client = {
                "client_id": parsed.oauth.client_id,
                "client_secret": parsed.oauth.client_secret,
                "token_url": parsed.oauth.token_url,
            }
        for account in parsed.accounts:
            entry: dict[str, Any] = {
                "project_id": account.project_id,
                "refresh_token": account.refresh_token,
                "access_token": account.access_token,
                "expires_at": int(account.expires_at),
                "enabled": True,
                "disabled_reason": None,
            }
            if account.email:
                entry["email"] = account.email
            entries.append(entry)
    counts = {"added": 0, "updated": 0}

    def mutate(doc: dict[str, Any]) -> None:
        counts.update(added=0, updated=0)  # may run again on a re-read file
        if client is not None and not isinstance(doc.get("oauth_config"), dict):
            doc["oauth_config"] = dict(client)  # the client these refresh tokens belong to
        projects = doc.setdefault("projects", [])
        for entry in entries:
            same = next(
                (
                    p
                    for p in projects
                    if isinstance(p, dict)
                    and (
                        p.get("project_id") == entry["project_id"]
                        or (entry.get("email") and p.get("email") == entry.get("email"))
                    )
                ),
                None,
            )
            if same is None:
                projects.append(dict(entry))
                counts["added"] += 1
            else:
                same.update(entry)
                counts["updated"] += 1

    if entries:
        update_tokens(cfg.tokens_file, mutate)
    return {
        **counts,
        "skipped": skipped,
        "accounts": sorted({mask(e["project_id"]) for e in entries}),
    }


def export_tokens(cfg: GatewayConfig, fmt: str) -> tuple[str, bytes]:
    """The file name and content of an export in ``fmt``."""
    if fmt not in FORMATS:
        raise ValueError(f"'format' takes {', '.join(FORMATS)}")
    try:
        return "tokens.json", cfg.tokens_file.read_bytes()
    except FileNotFoundError:
        return "tokens.json", b'{"projects": []}\n'
