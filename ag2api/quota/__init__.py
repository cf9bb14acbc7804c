"""What the gateway knows about each account's quota: the upstream's answers read (``wire``),
the per-account view routing asks (``book``), the checks that keep it current (``monitor``: on a
timer, and after a 429), and the quota as Prometheus gauges read at scrape time (``gauges``)."""
