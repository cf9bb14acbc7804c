"""Logging: set-up (``setup``), the off-loop writer (``writer``), the request log
(``requestlog``) and the end of every request — its log line, usage counters and metrics
(``report``)."""
