"""``ag2api``: serve the gateway (``--demo`` for the built-in fake upstream)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from ag2api import __version__
from ag2api.app import StartupError, serve
from ag2api.config.live import Overrides, read_config
from ag2api.config.load import ConfigError
from ag2api.config.schema import GatewayConfig
from ag2api.logs import setup_logging

DEFAULT_CONFIG = Path("conf/gateway.yaml")


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
    return parser


def load_config(args: argparse.Namespace) -> GatewayConfig:
    overrides = Overrides(host=args.host, port=args.port, tokens_file=args.tokens)
    if args.demo and not args.config.exists():
        return overrides.apply(GatewayConfig(path=args.config.resolve()))
    return read_config(args.config, overrides=overrides)


async def _run(args: argparse.Namespace, cfg: GatewayConfig) -> int:
    if not args.demo:
        return await serve(cfg)
    from ag2api.demo import print_banner, start_demo_upstream

    demo_cfg, fake, key = await start_demo_upstream(cfg)
    try:
        return await serve(demo_cfg, on_ready=print_banner(key, demo_cfg.server.host))  # type: ignore[arg-type]
    finally:
        await fake.stop()


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        cfg = load_config(args)
    except ConfigError as exc:
        print(f"ag2api: configuration error: {exc}", file=sys.stderr)
        return 2
    setup_logging(cfg.log_level)
    try:
        return asyncio.run(_run(args, cfg))
    except StartupError as exc:
        logging.getLogger("ag2api").error("%s", exc)
        return 2
    except KeyboardInterrupt:
        return 0
