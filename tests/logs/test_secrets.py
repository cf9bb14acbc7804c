"""Logging never exposes secrets, even at DEBUG."""

from __future__ import annotations

import logging

from ag2api.logs.setup import setup_logging


def test_debug_level_keeps_libcurl_header_trace_off() -> None:
    root = logging.getLogger()
    saved = root.level
    writer = setup_logging("DEBUG")
    try:
        assert logging.getLogger("ag2api").isEnabledFor(logging.DEBUG)
        assert not logging.getLogger("tornado.curl_httpclient").isEnabledFor(logging.DEBUG)
    finally:
        writer.close()
        root.setLevel(saved)
