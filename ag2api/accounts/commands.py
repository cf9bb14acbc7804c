"""``ag2api accounts import|export|encrypt|decrypt``: tokens.json as a whole, under its lock.

A running gateway sees each change through its file watcher, like any other edit.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ag2api.accounts.crypto import (
    SECRET_FIELDS,
    BadKey,
    CannotDecrypt,
    TokenCipher,
    is_sealed,
    load_cipher,
    unreadable_message,
)
from ag2api.accounts.google_calls import Route
from ag2api.accounts.model import OAuthConfig
from ag2api.accounts.oauth_client import client_for, default_client, known_secret, usable
from ag2api.accounts.store import (
    TokensFileError,
    locked_entries,
    read_tokens,
    require_key_opens,
    update_tokens,
    write_atomic,
)
from ag2api.accounts.transfer.export import FORMATS, export
from ag2api.accounts.transfer.formats import Entry, Problem, read_paths
from ag2api.accounts.transfer.merge import Outcome, ProjectFinder, fold_duplicates, merge_into
from ag2api.config.schema import GatewayConfig

ACTIONS = ("import", "export", "encrypt", "decrypt")


class CommandFailed(Exception):
    """Said to the person as it is; nothing was written."""


def add_commands(actions: Any) -> None:
    """The file-wide actions, on ``ag2api accounts``' subparsers."""
    imp = actions.add_parser(
        "import",
        help="add accounts from files of ag2api, antigravity2api-nodejs, CLIProxyAPI, "
        "Antigravity-Manager or gcli2api",
    )
    imp.add_argument("paths", nargs="+", type=Path, help="files, folders or .zip files")
    imp.add_argument(
        "--api-base", help="Antigravity host for project lookups (default: upstream.base_urls)"
    )
    imp.add_argument("--onboard-polls", type=int, default=10, help=argparse.SUPPRESS)
    imp.add_argument("--onboard-interval", type=float, default=3.0, help=argparse.SUPPRESS)
    exp = actions.add_parser("export", help="write the accounts in ag2api's or a peer's format")
    exp.add_argument("--format", choices=FORMATS, default="ag2api", help="(default: ag2api)")
    exp.add_argument(
        "--out", type=Path, help="file to write (cliproxy: a folder); default: standard output"
    )
    exp.add_argument(
        "--plaintext",
        action="store_true",
        help="write the tokens unencrypted even when a key is set (other tools need this)",
    )
    actions.add_parser("encrypt", help="encrypt every token in tokens.json now (needs the key)")
    actions.add_parser("decrypt", help="write every token in tokens.json as plaintext again")


def cipher_for(cfg: GatewayConfig, environ: Mapping[str, str]) -> TokenCipher:
    return load_cipher(environ, cfg.secrets.key_file)


def run_command(args: argparse.Namespace, cfg: GatewayConfig, environ: Mapping[str, str]) -> int:
    try:
        cipher = cipher_for(cfg, environ)
        if args.action == "import":
            return run_import(args, cfg, cipher, environ)
        if args.action == "export":
            return run_export(args, cfg, cipher)
        return run_crypt(cfg.tokens_file, cipher, encrypt=args.action == "encrypt")
    except (CommandFailed, BadKey, TokensFileError, OSError, TimeoutError) as exc:
        print(f"ag2api accounts {args.action}: {exc}", file=sys.stderr)
        return 1


# -- import -----------------------------------------------------------------------------------
@dataclass
class Imported:
    """What an import read and did (nothing was written when ``outcome`` is None)."""

    formats: dict[str, int]
    read: int
    merged: int
    outcome: Outcome | None
    problems: list[Problem]


def import_accounts(
    paths: list[Path],
    cfg: GatewayConfig,
    cipher: TokenCipher,
    environ: Mapping[str, str],
    api_base: str | None = None,
    onboarding: tuple[int, float] = (10, 3.0),
) -> Imported:
    """Read ``paths`` (any format :mod:`.transfer.formats` knows), look up missing projects and
    merge the accounts into tokens.json under its lock (``ag2api accounts import`` and the
    console's upload)."""
    path = cfg.tokens_file
    require_key_opens(path, cipher)  # refused before any lookup rather than after
    reading = read_paths(paths)
    problems = list(reading.problems)
    entries: list[Entry] = []
    for entry in reading.entries:
        try:
            entry.refresh_token = cipher.open(entry.refresh_token, "refresh_token")
            if entry.access_token:
                entry.access_token = cipher.open(entry.access_token, "access_token")
        except CannotDecrypt as exc:
            problems.append(Problem(entry.source, f"its tokens are encrypted and {exc}"))
            continue
        entries.append(entry)
    entries, merged = fold_duplicates(entries)
    env = dict(environ)
    ours = usable(read_tokens(path).oauth)
    adopt = None
    if ours is None:  # take the client of an imported tokens.json when ours has none
        adopt = next(
            (
                {"client_id": cid, "client_secret": secret}
                for cid, secret in reading.clients
                if not known_secret(cid) and usable(OAuthConfig(cid, secret))
            ),
            None,
        )
    default = default_client(
        ours or (OAuthConfig(adopt["client_id"], adopt["client_secret"]) if adopt else None), env
    )
    finder = ProjectFinder(
        default,
        env,
        api_base or cfg.upstream.base_urls[0],
        lambda e: Route(
            proxy=e.proxy or cfg.upstream.proxy,
            user_agent=e.user_agent or cfg.upstream.user_agent,
            ca_file=str(cfg.upstream.ca_file) if cfg.upstream.ca_file else None,
        ),
        onboarding,
    )
    ready: list[Entry] = []
    for entry in entries:
        if client_for(entry.client_id, default, env) is None:
            problems.append(
                Problem(
                    entry.source,
                    f"issued to the OAuth client {entry.client_id}, whose secret this gateway "
                    "does not know (put it in tokens.json oauth_config)",
                )
            )
            continue
        if entry.project_id is None and (problem := finder.fill(entry)) is not None:
            problems.append(problem)
            continue
        ready.append(entry)
    outcome = merge_into(path, ready, cipher, default.client_id, adopt) if ready else None
    if outcome is not None:
        problems += outcome.problems
    return Imported(reading.formats, len(reading.entries), merged, outcome, problems)


def run_import(
    args: argparse.Namespace, cfg: GatewayConfig, cipher: TokenCipher, environ: Mapping[str, str]
) -> int:
    done = import_accounts(
        args.paths, cfg, cipher, environ, args.api_base, (args.onboard_polls, args.onboard_interval)
    )
    outcome = done.outcome
    _report_import(done.formats, done.read, done.merged, outcome, done.problems, cfg.tokens_file)
    changed = outcome is not None and (outcome.added or outcome.updated)
    return 0 if changed or not done.problems else 1


def _report_import(
    formats: dict[str, int],
    read: int,
    merged: int,
    outcome: Any,
    problems: list[Problem],
    path: Path,
) -> None:
    kinds = ", ".join(f"{fmt}: {n}" for fmt, n in formats.items()) or "none"
    line = f"Read {read} account(s) ({kinds})"
    print(line + (f"; {merged} duplicate(s) merged." if merged else "."))
    if outcome is not None and outcome.added:
        print(f"Added {len(outcome.added)}: {', '.join(outcome.added)}")
    if outcome is not None and outcome.updated:
        print(f"Updated {len(outcome.updated)}: {', '.join(outcome.updated)}")
    if problems:
        print(f"Skipped {len(problems)}:")
        for problem in problems:
            print(f"  {problem.source}: {problem.reason}")
    if outcome is not None and (outcome.added or outcome.updated):
        print(f"Written to {path}; a running gateway serves them within a second.")


# -- export -----------------------------------------------------------------------------------
def run_export(args: argparse.Namespace, cfg: GatewayConfig, cipher: TokenCipher) -> int:
    path = cfg.tokens_file
    doc = _raw(path)
    if args.plaintext:
        _require_readable(doc, cipher, str(path))
    files = export(doc, args.format, cipher, args.plaintext)
    sealed = cipher.enabled and not args.plaintext
    if args.format == "cliproxy":
        if args.out is None:
            raise CommandFailed("--format cliproxy writes one file per account: give --out FOLDER")
        args.out.mkdir(parents=True, exist_ok=True)
        for file in files:
            write_atomic(args.out / file.name, file.text)
        where = f"{len(files)} file(s) in {args.out}"
    elif args.out is not None:
        write_atomic(args.out, files[0].text)
        where = str(args.out)
    else:
        sys.stdout.write(files[0].text)
        where = "standard output"
    count = len([p for p in doc.get("projects") or () if isinstance(p, dict)])
    note = " (tokens encrypted: --plaintext for other tools)" if sealed else ""
    print(f"Exported {count} account(s) as {args.format} to {where}{note}.", file=sys.stderr)
    return 0


def _raw(path: Path) -> dict[str, Any]:
    try:
        doc = json.loads(path.read_bytes())
    except FileNotFoundError:
        raise CommandFailed(f"{path} does not exist") from None
    except ValueError as exc:
        raise CommandFailed(f"{path}: invalid JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise CommandFailed(f"{path}: the top level must be an object")
    return doc


def _require_readable(doc: dict[str, Any], cipher: TokenCipher, name: str) -> None:
    """Every sealed token opens with ``cipher``; else the error names the accounts."""
    locked, missing = locked_entries(doc, cipher)
    if locked:
        raise CommandFailed(unreadable_message(name, locked, missing, "nothing was written"))


# -- encrypt / decrypt ------------------------------------------------------------------------
def run_crypt(path: Path, cipher: TokenCipher, encrypt: bool) -> int:
    if encrypt and not cipher.enabled:
        raise CommandFailed(
            "no key: set AG2API_SECRET_KEY (16 characters or more) or secrets.key_file first"
        )
    counts = {"tokens": 0}

    def mutate(doc: dict[str, Any]) -> None:
        _require_readable(doc, cipher, str(path))
        counts["tokens"] = 0
        for entry in doc.get("projects") or ():
            if not isinstance(entry, dict):
                continue
            for key in SECRET_FIELDS:
                value = entry.get(key)
                if isinstance(value, str) and value and is_sealed(value) != encrypt:
                    entry[key] = cipher.seal(value, key) if encrypt else cipher.open(value, key)
                    counts["tokens"] += 1

    if not path.exists():
        raise CommandFailed(f"{path} does not exist")
    update_tokens(path, mutate, create=None)
    done = "encrypted" if encrypt else "decrypted"
    source = f" (key: {cipher.source})" if cipher.enabled else ""
    print(f"{counts['tokens']} token(s) {done} in {path}{source}.")
    if not encrypt and cipher.enabled:
        print(
            "The key is still set: a gateway running with it encrypts them again at its next "
            "write. Unset AG2API_SECRET_KEY / secrets.key_file there first."
        )
    return 0
