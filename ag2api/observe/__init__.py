"""What the gateway knows about its own work: the trace of a request (``trace``), usage
statistics (``usage``, read for ``ag2api usage`` by ``usage_report``), metrics (``metrics``), the
requests open right now (``open_requests``), the latest requests whose system prompt the upstream
refused (``content_rejections``), and the hot-reload watcher's state (``watch_status``)."""
