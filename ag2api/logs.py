"""Logging set-up and the one access-log line per request (no secrets, ever)."""

from __future__ import annotations

import logging


def setup_logging(level: str) -> None:
    logging.basicConfig(
        level=level,
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        datefmt="%Y-%m-%dT%H:%M:%S",
    )
    logging.getLogger().setLevel(level)
    # Tornado's own access log would repeat ours.
    logging.getLogger("tornado.access").setLevel(logging.WARNING)
    # At DEBUG the curl client turns on libcurl's verbose trace, which prints every request
    # header — Authorization: Bearer <access token> included. Never let it.
    logging.getLogger("tornado.curl_httpclient").setLevel(logging.INFO)
