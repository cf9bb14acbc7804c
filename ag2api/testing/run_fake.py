"""Run the fake upstream on its own: ``python -m ag2api.testing.run_fake --bench-chunks 20``.

Prints one JSON line (its URL, token URL, OAuth client and accounts) once it listens; used by
``scripts/bench.py``, handy for trying the gateway by hand.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import ssl
import sys

from ag2api.testing.fake_bench import BenchAnswer
from ag2api.testing.fake_google import FAKE_CLIENT_ID, FAKE_CLIENT_SECRET
from ag2api.testing.fake_upstream import FakeUpstream


async def main(args: argparse.Namespace) -> None:
    fake = FakeUpstream()
    accounts = []
    for i in range(args.accounts):
        fake.add_account(f"bench-refresh-{i}", f"bench-project-{i}")
        accounts.append({"project_id": f"bench-project-{i}", "refresh_token": f"bench-refresh-{i}"})
    ssl_options = None
    if args.cert:
        ssl_options = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ssl_options.load_cert_chain(args.cert, args.key)
    bench = BenchAnswer(args.bench_chunks, args.interval) if args.bench_chunks else None
    await fake.start(port=args.port, bench=bench, ssl_options=ssl_options)
    if bench is not None:
        fake.requests = _Discard()  # recording off: a long benchmark must not grow memory
    print(
        json.dumps(
            {
                "url": fake.url,
                "token_url": fake.token_url,
                "accounts": accounts,
                "client_id": FAKE_CLIENT_ID,
                "client_secret": FAKE_CLIENT_SECRET,
            }
        ),
        flush=True,
    )
    await asyncio.Event().wait()


class _Discard(list):  # type: ignore[type-arg]
    def append(self, item: object) -> None:
        pass


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--accounts", type=int, default=3)
    parser.add_argument(
        "--bench-chunks",
        type=int,
        default=0,
        help="serve one fixed answer of this many chunks (benchmark mode)",
    )
    parser.add_argument("--interval", type=float, default=0.0, help="seconds between chunks")
    parser.add_argument("--cert", help="serve HTTPS with this certificate (PEM)")
    parser.add_argument("--key", help="the certificate's private key (PEM)")
    try:
        asyncio.run(main(parser.parse_args()))
    except KeyboardInterrupt:
        sys.exit(0)
