"""The process around the services: the HTTP server and its connection limits (``http``),
pre-forked workers (``workers``), GC tuning (``gc``), and applying edited files (``watch`` and
``reload``)."""
