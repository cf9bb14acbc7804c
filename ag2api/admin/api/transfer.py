"""Import and export for the console: ``ag2api accounts import/export`` behind an upload and a
download.

Uploaded files are put in a private temporary folder under their own names and read by the same
code as the command (every format it knows, zip files included); the export is the command's,
as one file, or for CLIProxyAPI (a file per account) as a zip.
"""

from __future__ import annotations

import io
import json
import os
import re
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ag2api.accounts.commands import import_accounts
from ag2api.accounts.crypto import CannotDecrypt, TokenCipher
from ag2api.accounts.transfer.export import FORMATS, export
from ag2api.config.schema import GatewayConfig

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_ZIP_MAGIC = b"PK\x03\x04"  # a zip uploaded under a name without .zip is still read as one


@dataclass(frozen=True)
class ImportFile:
    name: str
    data: bytes


def import_files(
    cfg: GatewayConfig,
    cipher: TokenCipher,
    files: list[ImportFile],
    onboarding: tuple[int, float],
) -> dict[str, Any]:
    """Add (or update) the accounts in ``files``; bad entries are reported and skipped."""
    with tempfile.TemporaryDirectory(prefix="ag2api-import-") as folder:
        paths: dict[str, str] = {}
        for i, upload in enumerate(files):
            name = _UNSAFE.sub("_", Path(upload.name).name) or "upload.json"
            if upload.data.startswith(_ZIP_MAGIC):  # a zip is one by its content, whatever its name
                name = name if name.endswith(".zip") else name.removesuffix(".json") + ".zip"
            elif not name.endswith((".json", ".zip")):
                name += ".json"
            path = Path(folder) / f"{i:03d}" / name
            path.parent.mkdir()
            path.write_bytes(upload.data)
            paths[str(path)] = upload.name
        done = import_accounts([Path(p) for p in paths], cfg, cipher, os.environ, None, onboarding)

    def shown(source: str) -> str:  # the uploaded name, not the temporary path
        for tmp, name in paths.items():
            source = source.replace(tmp, name)
        return source

    outcome = done.outcome
    return {
        "formats": done.formats,
        "read": done.read,
        "merged": done.merged,
        "added": len(outcome.added) if outcome else 0,
        "updated": len(outcome.updated) if outcome else 0,
        "accounts": [*(outcome.added if outcome else []), *(outcome.updated if outcome else [])],
        "skipped": [{"file": shown(p.source), "reason": p.reason} for p in done.problems],
    }


def export_tokens(
    cfg: GatewayConfig, cipher: TokenCipher, fmt: str, plaintext: bool
) -> tuple[str, str, bytes]:
    """The file name, type and content of an export in ``fmt`` (tokens sealed with the
    gateway's key when one is set, unless ``plaintext``)."""
    if fmt not in FORMATS:
        raise ValueError(f"'format' takes {', '.join(FORMATS)}")
    try:
        doc = json.loads(cfg.tokens_file.read_bytes())
    except FileNotFoundError:
        doc = {"projects": []}
    except ValueError as exc:
        raise ValueError(f"{cfg.tokens_file.name}: invalid JSON: {exc}") from None
    try:
        files = export(doc if isinstance(doc, dict) else {}, fmt, cipher, plaintext)
    except CannotDecrypt as exc:
        raise ValueError(f"cannot export in plaintext: {exc}") from None
    if fmt == "cliproxy":
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
            for file in files:
                archive.writestr(file.name, file.text)
        return "cliproxy-auths.zip", "application/zip", out.getvalue()
    name = "tokens.json" if fmt == "ag2api" else "accounts.json"
    return name, "application/json", files[0].text.encode()
