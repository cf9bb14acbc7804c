"""Run the fake upstream on its own: ``python -m ag2api.testing.run_fake --port 9100``.

Prints one JSON line (its URL, token URL, OAuth client, accounts and process id) once it
listens; used by ``scripts/bench.py``. To try the real gateway against it by hand
(docs/operations.md, "The real gateway in front of the fake upstream"), ``--tokens PATH`` also
writes a tokens.json for its accounts:

    python -m ag2api.testing.run_fake --port 9100 --tokens /tmp/fake-tokens.json &
    AG2API_UPSTREAM_BASE_URLS=http://127.0.0.1:9100 ag2api --tokens /tmp/fake-tokens.json

``--content-filter [PHRASE ...]`` makes it refuse system prompts like the real backend (the bare
429 of a masked content rejection); with no phrase, the ones the real backend is known to refuse.

Benchmark mode (``--bench-chunks N``) serves one fixed answer like Google does — running
``usageMetadata`` on every event, gzip when the request accepts it; ``--no-usage`` and
``--no-gzip`` make it lighter. ``--access-token TOKEN`` also accepts a pre-issued bearer token
(no OAuth refresh), which is how ``scripts/bench.py --upstream`` uses it as an external upstream:

    python -m ag2api.testing.run_fake --bench-chunks 20 --port 9100 --access-token ya29.bench &
    python scripts/bench.py --upstream http://127.0.0.1:9100 --upstream-pid $! \\
        --access-token ya29.bench --direct http://127.0.0.1:9100/v1/chat/completions
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import ssl
import sys
import time
from pathlib import Path
from typing import Any

from ag2api.accounts.store import write_atomic
from ag2api.testing.fake_bench import BenchAnswer
from ag2api.testing.fake_filter import KNOWN_TRIGGERS
from ag2api.testing.fake_google import FAKE_CLIENT_ID, FAKE_CLIENT_SECRET
from ag2api.testing.fake_upstream import FakeUpstream


async def main(args: argparse.Namespace) -> None:
    fake = FakeUpstream()
    if args.content_filter is not None:
        fake.content_filter = tuple(args.content_filter) or KNOWN_TRIGGERS
    accounts = []
    for i in range(args.accounts):
        fake.add_account(f"bench-refresh-{i}", f"bench-project-{i}")
        accounts.append({"project_id": f"bench-project-{i}", "refresh_token": f"bench-refresh-{i}"})
    ssl_options = None
    if args.cert:
        ssl_options = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ssl_options.load_cert_chain(args.cert, args.key)
    if args.access_token:
        # Pre-issued to the first account, valid for years: the caller needs no refresh.
        fake.tokens[args.access_token] = ("bench-refresh-0", time.time() + 10 * 365 * 86400)
    bench = (
        BenchAnswer(
            args.bench_chunks,
            args.interval,
            usage_every_event=not args.no_usage,
            gzip_upstream=not args.no_gzip,
        )
        if args.bench_chunks
        else None
    )
    await fake.start(port=args.port, bench=bench, ssl_options=ssl_options)
    if bench is not None:
        fake.requests = _Discard()  # recording off: a long benchmark must not grow memory
    if args.tokens:
        write_tokens(args.tokens, fake, accounts)
    print(
        json.dumps(
            {
                "url": fake.url,
                "token_url": fake.token_url,
                "accounts": accounts,
                "client_id": FAKE_CLIENT_ID,
                "client_secret": FAKE_CLIENT_SECRET,
                "pid": os.getpid(),
            }
        ),
        flush=True,
    )
    await asyncio.Event().wait()


def write_tokens(path: Path, fake: FakeUpstream, accounts: list[dict[str, Any]]) -> None:
    """A tokens.json in the original format whose accounts and OAuth client are the fake's."""
    doc = {
        "oauth_config": {
            "client_id": FAKE_CLIENT_ID,
            "client_secret": FAKE_CLIENT_SECRET,
            "token_url": fake.token_url,
        },
        "projects": [{**acc, "enabled": True} for acc in accounts],
    }
    write_atomic(path.resolve(), json.dumps(doc, indent=2))


class _Discard(list[Any]):
    def append(self, item: object) -> None:
        pass


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=(__doc__ or "").split("\n\n")[0],
    )
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--accounts", type=int, default=3)
    parser.add_argument(
        "--bench-chunks",
        type=int,
        default=0,
        help="serve one fixed answer of this many chunks (benchmark mode)",
    )
    parser.add_argument("--interval", type=float, default=0.0, help="seconds between chunks")
    parser.add_argument(
        "--no-gzip",
        action="store_true",
        help="benchmark mode: never gzip (default: gzip when Accept-Encoding allows it)",
    )
    parser.add_argument(
        "--no-usage",
        action="store_true",
        help="benchmark mode: usageMetadata on the last event only (default: on every event)",
    )
    parser.add_argument(
        "--access-token",
        help="also accept this bearer token (for the first account, no expiry in practice)",
    )
    parser.add_argument("--cert", help="serve HTTPS with this certificate (PEM)")
    parser.add_argument("--key", help="the certificate's private key (PEM)")
    parser.add_argument(
        "--tokens", type=Path, help="also write a tokens.json for the fake's accounts here"
    )
    parser.add_argument(
        "--content-filter",
        nargs="*",
        metavar="PHRASE",
        help="answer the bare 429 to agent requests whose system instruction holds a PHRASE "
        "(case ignored); with no PHRASE, the ones the real backend is known to refuse",
    )
    try:
        asyncio.run(main(parser.parse_args()))
    except KeyboardInterrupt:
        sys.exit(0)
