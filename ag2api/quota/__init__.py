"""What the gateway knows about each account's quota: the upstream's answers read (``wire``),
the per-account view routing asks (``book``), and the checks that keep it current
(``monitor``: on a timer, and after a 429)."""
