"""The process: HTTP server, workers, GC tuning, reload, file watch, open requests."""
