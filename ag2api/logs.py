"""Logging set-up and the one access-log line per request (no secrets, ever)."""

from __future__ import annotations

import logging
from typing import Any

from tornado.web import RequestHandler

access_log = logging.getLogger("ag2api.access")


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


def log_request(handler: RequestHandler) -> None:
    """``log_function`` for the Application: status, method, path, time, request id, key label."""
    status = handler.get_status()
    level = logging.INFO if status < 400 else logging.WARNING if status < 500 else logging.ERROR
    if not access_log.isEnabledFor(level):
        return
    key: Any = getattr(handler, "client_key", None)
    access_log.log(
        level,
        "%d %s %s %.1fms id=%s key=%s",
        status,
        handler.request.method,
        handler.request.path,
        1000.0 * handler.request.request_time(),
        getattr(handler, "request_id", "-"),
        key.label if key is not None else "-",
    )
