"""Files people also edit by hand (gateway.yaml, tokens.json): read, then replaced atomically
under their lock and never over a change made since the read (``safewrite``)."""
