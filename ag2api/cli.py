"""The ``ag2api`` command: serve the gateway (or the demo), ``accounts``, ``usage``, ``keys``,
``login``."""

from __future__ import annotations

import argparse
import asyncio
import datetime
import logging
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ag2api import __version__
from ag2api.accounts.cli import (
    AccountNotFound,
    account_rows,
    format_table,
    set_enabled,
    verification_lines,
)
from ag2api.accounts.commands import ACTIONS as FILE_ACTIONS
from ag2api.accounts.commands import add_commands, cipher_for, run_command
from ag2api.accounts.crypto import BadKey
from ag2api.accounts.login_cli import add_arguments as add_login_arguments
from ag2api.accounts.login_cli import login
from ag2api.app import serve
from ag2api.config.keys_file import hashed, new_client_key
from ag2api.config.live import Overrides, read_config
from ag2api.config.load import PORT, WORKERS, WORKERS_NEED_REDIS, ConfigError
from ag2api.config.schema import NO_POLICY, GatewayConfig
from ag2api.keys.report import key_limit_rows
from ag2api.logs.setup import setup_logging
from ag2api.observe.usage_report import read_usage, stored_quota, usage_table
from ag2api.server.http import StartupError
from ag2api.state.redis.keys_sync import PublishRefused
from ag2api.state.redis.keys_sync import publish_command as publish_keys

# The built-in config (package data): every default, accounts in ~/.config/ag2api/tokens.json.
PACKAGED_CONFIG = Path(__file__).resolve().parent / "defaults" / "gateway.yaml"
WHICH = "list number, project id, email or a unique part of the id"
DESCRIPTION = """\
Serve the OpenAI-compatible gateway in front of Google's Antigravity backend
(--demo: in front of the built-in fake upstream, no Google account needed)."""
CONFIG_LOOKUP = """\
The config file is the first of: --config PATH, $AG2API_CONFIG, ./conf/gateway.yaml,
~/.config/ag2api/gateway.yaml, and the built-in default (all defaults; accounts in
~/.config/ag2api/tokens.json)."""


def config_candidates(cwd: Path, home: Path) -> list[Path]:
    """The files tried in order when none is named (the last, built in, always exists)."""
    return [
        cwd / "conf" / "gateway.yaml",
        home / ".config" / "ag2api" / "gateway.yaml",
        PACKAGED_CONFIG,
    ]


def find_config(
    explicit: Path | None, environ: Mapping[str, str], cwd: Path, home: Path
) -> tuple[Path, bool]:
    """The config to read, and whether it was named (--config, $AG2API_CONFIG) and so must exist."""
    if explicit is not None:
        return explicit, True
    if environ.get("AG2API_CONFIG"):
        return Path(environ["AG2API_CONFIG"]), True
    return next(p for p in config_candidates(cwd, home) if p.is_file()), False


def checked(check: Callable[[Any], int]) -> Callable[[str], int]:
    """An argparse type that applies the config file's own check (same range, same words)."""

    def parse(text: str) -> int:
        try:
            number = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be an integer, not {text!r}") from None
        try:
            return check(number)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    return parse


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ag2api",
        description=DESCRIPTION,
        epilog=CONFIG_LOOKUP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--config",
        type=Path,
        default=None,
        help="gateway YAML (default: see below)",
    )
    parser.add_argument("--host", help="listen address (overrides server.host)")
    parser.add_argument(
        "--port", type=checked(PORT), help="listen port (overrides server.port; 0: any free one)"
    )
    parser.add_argument("--tokens", type=Path, help="tokens.json (overrides tokens_file)")
    parser.add_argument(
        "--workers",
        type=checked(WORKERS),
        help="processes on the port (overrides server.workers; >1: redis)",
    )
    parser.add_argument(
        "--demo",
        action="store_true",
        help="serve from the built-in fake upstream (API key sk-change-me on loopback)",
    )
    parser.add_argument("--version", action="version", version=f"ag2api {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    accounts = commands.add_parser(
        "accounts", help="list, enable, disable, import, export, encrypt or decrypt accounts"
    )
    file_options(accounts)
    actions = accounts.add_subparsers(dest="action", metavar="ACTION")
    actions.add_parser("list", help="every project with its state (the default)")
    enable = actions.add_parser("enable", help="put a project back in rotation")
    enable.add_argument("project", help=WHICH)
    disable = actions.add_parser("disable", help="take a project out of rotation")
    disable.add_argument("project", help=WHICH)
    disable.add_argument("--reason", default="disabled by hand", help="written as disabled_reason")
    add_commands(actions)
    usage = commands.add_parser("usage", help="usage statistics per key, model, project, day")
    file_options(usage)
    usage.add_argument("--since", help="first day, YYYY-MM-DD (default: 7 days ago)")
    usage.add_argument("--until", help="last day, YYYY-MM-DD (default: today)")
    usage.add_argument(
        "--group-by",
        default="day,key,model",
        help="any of day,key,model,project (default: day,key,model)",
    )
    keys = commands.add_parser("keys", help="make a client API key (stored hashed), share keys")
    key_actions = keys.add_subparsers(dest="action", metavar="ACTION")
    new = key_actions.add_parser(
        "new", help="print a new key once, and the api_keys line (its hash) to paste"
    )
    new.add_argument("--label", default=None, help="the key's label (logs, usage, metrics)")
    publish = key_actions.add_parser(
        "publish",
        help="share this host's keys with the other hosts of the pool (state.backend: redis)",
        description="Share keys written by hand in this host's gateway.yaml with every host "
        "serving the pool: each writes them into its own gateway.yaml (as their sha256 hash).",
    )
    file_options(publish)
    publish.add_argument("labels", nargs="*", help="the keys' labels (default: every labelled key)")
    publish.add_argument(
        "--delete",
        action="append",
        default=[],
        metavar="LABEL",
        help="a shared key no longer in this gateway.yaml: delete it on every host",
    )
    login = commands.add_parser(
        "login",
        help="add a Google account (OAuth in the browser) to tokens.json",
        description="Sign in with a Google account in the browser and add its project to "
        "tokens.json (the config's tokens_file unless --tokens is given).",
    )
    file_options(login)
    add_login_arguments(login)
    return parser


def file_options(command: argparse.ArgumentParser) -> None:
    """--config and --tokens on a command too (before or after its name): every command finds
    the files as the gateway does, given the same options and environment."""
    command.add_argument("--config", type=Path, default=argparse.SUPPRESS, help="gateway YAML")
    command.add_argument(
        "--tokens",
        type=Path,
        default=argparse.SUPPRESS,
        help="tokens.json (overrides tokens_file; usage.sqlite3 is beside it unless usage_db)",
    )


def load_config(args: argparse.Namespace) -> GatewayConfig:
    overrides = Overrides(host=args.host, port=args.port, tokens_file=args.tokens)
    # expanduser never raises (Path.home() does for a uid without a passwd entry, e.g. Docker).
    home = Path(os.path.expanduser("~"))
    path, named = find_config(args.config, os.environ, Path.cwd(), home)
    # The demo, and `accounts`/`login --tokens FILE`, need no config file.
    standalone = args.demo or (args.command in ("accounts", "login") and args.tokens is not None)
    if standalone and named and not path.exists():
        return overrides.apply(GatewayConfig(path=path.resolve()))
    return read_config(path, overrides=overrides)


def run_accounts(args: argparse.Namespace, cfg: GatewayConfig) -> int:
    if args.action in FILE_ACTIONS:
        return run_command(args, cfg, os.environ)
    path = cfg.tokens_file
    try:
        if args.action in (None, "list"):
            if not path.exists():
                print(f"{path} does not exist yet: add an account with `ag2api login`")
                return 0
            rows = account_rows(path, stored_quota(cfg.usage_db), cfg.upstream.proxy)
            print(format_table(rows))
            for line in verification_lines(path, cfg.accounts.recheck_seconds):
                print(line)
            return 0
        enabled = args.action == "enable"
        masked = set_enabled(path, args.project, enabled, getattr(args, "reason", None))
    except (AccountNotFound, ValueError, TimeoutError) as exc:
        print(f"ag2api accounts: {exc}", file=sys.stderr)
        return 1
    print(f"project {masked} {'enabled' if enabled else 'disabled'} in {path}")
    return 0


def run_usage(args: argparse.Namespace, cfg: GatewayConfig) -> int:
    groups = tuple(g.strip() for g in args.group_by.split(",") if g.strip())
    since = args.since or (datetime.date.today() - datetime.timedelta(days=6)).isoformat()
    if not cfg.usage_db.exists():
        print(f"no usage recorded yet ({cfg.usage_db} does not exist)")
        return 0
    try:
        report = read_usage(cfg.usage_db, since, args.until, groups)
    except ValueError as exc:
        print(f"ag2api usage: {exc}", file=sys.stderr)
        return 1
    rows = report.rows
    print(format_table(usage_table(groups, rows)) if rows else f"no usage since {since}")
    if any(cfg.policy_of(k) != NO_POLICY for k in cfg.api_keys):
        print()
        print("Keys against their limits (tokens: UTC today and this month):")
        print(format_table(key_limit_rows(cfg, report.today, report.month)))
    return 0


async def _run(args: argparse.Namespace, cfg: GatewayConfig) -> int:
    overrides = Overrides(host=args.host, port=args.port, tokens_file=args.tokens)
    if not args.demo:
        return await serve(cfg, overrides=overrides)
    from ag2api.demo import print_banner, start_demo_upstream

    folder = Path(tempfile.mkdtemp(prefix="ag2api-demo-"))
    try:
        demo_cfg, fake, key = await start_demo_upstream(cfg, folder)
        try:
            ready = print_banner(key, demo_cfg.admin_key or "", demo_cfg.server.host, cfg.path)
            return await serve(demo_cfg, on_ready=ready)
        finally:
            await fake.stop()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def run_keys(args: argparse.Namespace) -> int:
    """``ag2api keys new``: the key is printed once and never stored; the YAML gets its hash."""
    if args.action != "new":
        print("usage: ag2api keys new [--label L]", file=sys.stderr)
        return 2
    key = new_client_key()
    digest = hashed(key).removeprefix("sha256:")
    label = args.label or f"key-{digest[:6]}"
    if not label.strip() or any(c in label for c in '"\n'):
        print("ag2api keys new: --label must be a non-empty single-line text", file=sys.stderr)
        return 2
    print("New API key (shown this once; only its hash goes into the config):")
    print(f"  {key}")
    print()
    print("Add this entry under api_keys: in gateway.yaml (applied within a second):")
    print(f'  - {{key: "sha256:{digest}", label: "{label}"}}')
    return 0


def run_login(args: argparse.Namespace, cfg: GatewayConfig) -> int:
    args.tokens = cfg.tokens_file
    args.default_proxy = cfg.upstream.proxy
    try:
        args.cipher = cipher_for(cfg, os.environ)
    except BadKey as exc:
        print(f"ag2api login: {exc}", file=sys.stderr)
        return 1
    return login(args, "ag2api login")


def run_publish(args: argparse.Namespace, cfg: GatewayConfig) -> int:
    """``ag2api keys publish``: this host's keys (or the labels named) shared through Redis."""
    try:
        done = asyncio.run(publish_keys(cfg, args.labels, args.delete))
    except PublishRefused as exc:
        print(f"ag2api keys publish: {exc}", file=sys.stderr)
        return 1
    for label in done:
        print(f"{label}: {'deleted on every host' if label in args.delete else 'shared'}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "keys" and args.action != "publish":
        return run_keys(args)
    try:
        cfg = load_config(args)
    except ConfigError as exc:
        print(f"ag2api: configuration error: {exc}", file=sys.stderr)
        return 2
    if args.command == "accounts":
        return run_accounts(args, cfg)
    if args.command == "keys":
        return run_publish(args, cfg)
    if args.command == "usage":
        return run_usage(args, cfg)
    if args.command == "login":
        return run_login(args, cfg)
    log_writer = setup_logging(cfg.log_level)
    try:
        return run_gateway(args, cfg)
    finally:
        log_writer.close()  # the last lines reach standard error before the process ends


def run_gateway(args: argparse.Namespace, cfg: GatewayConfig) -> int:
    workers = args.workers or cfg.server.workers
    if workers > 1 and not args.demo:
        if cfg.state.backend != "redis":
            print(f"ag2api: configuration error: --workers: {WORKERS_NEED_REDIS}", file=sys.stderr)
            return 2
        from ag2api.server.workers import run_workers

        try:
            return run_workers(cfg, workers, serve, Overrides(args.host, args.port, args.tokens))
        except StartupError as exc:
            logging.getLogger("ag2api").error("%s", exc)
            return 2
    try:
        return asyncio.run(_run(args, cfg))
    except StartupError as exc:
        logging.getLogger("ag2api").error("%s", exc)
        return 2
    except KeyboardInterrupt:
        return 0
