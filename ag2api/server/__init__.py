"""The process around the services: the HTTP server and its connection limits, pre-forked
workers, GC tuning, and applying edited files (watch and reload)."""
