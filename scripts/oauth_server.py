#!/usr/bin/env python3
"""Add a Google account to ag2api: the same flow and options as "ag2api login".

    python scripts/oauth_server.py                 # opens the browser, waits on 127.0.0.1:51121
    python scripts/oauth_server.py --no-browser    # headless: open the URL elsewhere, paste the
                                                   # address the browser ends on

It updates the repository's data/tokens.json unless --tokens says otherwise; see
ag2api/accounts/login.py for what the flow does.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# save_account is imported from here by code written against the old script.
from ag2api.accounts.login import save_account  # noqa: E402
from ag2api.accounts.login_cli import add_arguments, login  # noqa: E402

__all__ = ["main", "save_account"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument(
        "--tokens",
        type=Path,
        default=ROOT / "data" / "tokens.json",
        help="tokens.json to update (default: the repository's data/tokens.json)",
    )
    add_arguments(parser)
    return login(parser.parse_args(argv), "oauth_server")


if __name__ == "__main__":
    raise SystemExit(main())
