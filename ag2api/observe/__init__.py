"""What the gateway knows about its own work: the trace of a request (``trace``), usage
statistics (``usage``), metrics (``metrics``), the requests open right now (``open_requests``),
the latest requests whose system prompt the upstream refused (``content_rejections``), and the
hot-reload watcher's state (``watch_status``)."""
