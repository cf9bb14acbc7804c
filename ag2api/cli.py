"""``ag2api`` serves the gateway (``--demo``: from the built-in fake); ``ag2api accounts``."""

from __future__ import annotations

import argparse
import asyncio
import datetime
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ag2api import __version__
from ag2api.accounts.admin import AccountNotFound, account_rows, format_table, set_enabled
from ag2api.app import StartupError, serve
from ag2api.config.live import Overrides, read_config
from ag2api.config.load import ConfigError
from ag2api.config.schema import GatewayConfig
from ag2api.logs import setup_logging
from ag2api.observe.usage import COLUMNS, connect, query_usage, read_quota

DEFAULT_CONFIG = Path("conf/gateway.yaml")
WHICH = "list number, project id, email or a unique part of the id"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ag2api", description=__doc__)
    parser.add_argument(
        "--config",
        type=Path,
        default=DEFAULT_CONFIG,
        help="gateway YAML (default: conf/gateway.yaml)",
    )
    parser.add_argument("--host", help="listen address (overrides server.host)")
    parser.add_argument("--port", type=int, help="listen port (overrides server.port)")
    parser.add_argument("--tokens", type=Path, help="tokens.json (overrides tokens_file)")
    parser.add_argument(
        "--demo",
        action="store_true",
        help="serve from the built-in fake upstream with a generated key",
    )
    parser.add_argument("--version", action="version", version=f"ag2api {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    accounts = commands.add_parser("accounts", help="list, enable or disable accounts")
    for flag, kind, text in (("--config", Path, "gateway YAML"), ("--tokens", Path, "tokens.json")):
        accounts.add_argument(flag, type=kind, default=argparse.SUPPRESS, help=text)
    actions = accounts.add_subparsers(dest="action", metavar="ACTION")
    actions.add_parser("list", help="every project with its state (the default)")
    enable = actions.add_parser("enable", help="put a project back in rotation")
    enable.add_argument("project", help=WHICH)
    disable = actions.add_parser("disable", help="take a project out of rotation")
    disable.add_argument(
        "project", help="list number, project id, email or a unique part of the id"
    )
    disable.add_argument("--reason", default="disabled by hand", help="written as disabled_reason")
    usage = commands.add_parser("usage", help="usage statistics per key, model, project, day")
    usage.add_argument("--config", type=Path, default=argparse.SUPPRESS, help="gateway YAML")
    usage.add_argument("--since", help="first day, YYYY-MM-DD (default: 7 days ago)")
    usage.add_argument("--until", help="last day, YYYY-MM-DD (default: today)")
    usage.add_argument(
        "--group-by",
        default="day,key,model",
        help="any of day,key,model,project (default: day,key,model)",
    )
    return parser


def load_config(args: argparse.Namespace) -> GatewayConfig:
    overrides = Overrides(host=args.host, port=args.port, tokens_file=args.tokens)
    # The demo, and `accounts --tokens FILE`, need no config file.
    standalone = args.demo or (args.command == "accounts" and args.tokens is not None)
    if standalone and not args.config.exists():
        return overrides.apply(GatewayConfig(path=args.config.resolve()))
    return read_config(args.config, overrides=overrides)


def run_accounts(args: argparse.Namespace, cfg: GatewayConfig) -> int:
    path = cfg.tokens_file
    try:
        if args.action in (None, "list"):
            if not path.exists():
                print(f"{path} does not exist yet: add an account with scripts/oauth_server.py")
                return 0
            print(format_table(account_rows(path, stored_quota(cfg.usage_db))))
            return 0
        enabled = args.action == "enable"
        masked = set_enabled(path, args.project, enabled, getattr(args, "reason", None))
    except (AccountNotFound, ValueError, TimeoutError) as exc:
        print(f"ag2api accounts: {exc}", file=sys.stderr)
        return 1
    print(f"project {masked} {'enabled' if enabled else 'disabled'} in {path}")
    return 0


def stored_quota(db_path: Path) -> dict[str, Any] | None:
    if not db_path.exists():
        return None
    db = connect(db_path)
    try:
        return read_quota(db)
    finally:
        db.close()


def run_usage(args: argparse.Namespace, cfg: GatewayConfig) -> int:
    groups = tuple(g.strip() for g in args.group_by.split(",") if g.strip())
    since = args.since or (datetime.date.today() - datetime.timedelta(days=6)).isoformat()
    if not cfg.usage_db.exists():
        print(f"no usage recorded yet ({cfg.usage_db} does not exist)")
        return 0
    db = connect(cfg.usage_db)
    try:
        rows = query_usage(db, since=since, until=args.until, group_by=groups)
    except ValueError as exc:
        print(f"ag2api usage: {exc}", file=sys.stderr)
        return 1
    finally:
        db.close()
    head = [*groups, "REQUESTS", "PROMPT", "COMPLETION", "REASONING", "ERRORS"]
    table = [[g.upper() for g in head[: len(groups)]] + head[len(groups) :]]
    table += [[str(row[g]) for g in groups] + [str(row[c]) for c in COLUMNS] for row in rows]
    print(format_table(table) if rows else f"no usage since {since}")
    return 0


async def _run(args: argparse.Namespace, cfg: GatewayConfig) -> int:
    overrides = Overrides(host=args.host, port=args.port, tokens_file=args.tokens)
    if not args.demo:
        return await serve(cfg, overrides=overrides)
    from ag2api.demo import print_banner, start_demo_upstream

    demo_cfg, fake, key = await start_demo_upstream(cfg)
    try:
        ready = print_banner(key, demo_cfg.admin_key or "", demo_cfg.server.host)
        return await serve(demo_cfg, on_ready=ready)  # type: ignore[arg-type]
    finally:
        await fake.stop()


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        cfg = load_config(args)
    except ConfigError as exc:
        print(f"ag2api: configuration error: {exc}", file=sys.stderr)
        return 2
    if args.command == "accounts":
        return run_accounts(args, cfg)
    if args.command == "usage":
        return run_usage(args, cfg)
    setup_logging(cfg.log_level)
    try:
        return asyncio.run(_run(args, cfg))
    except StartupError as exc:
        logging.getLogger("ag2api").error("%s", exc)
        return 2
    except KeyboardInterrupt:
        return 0
