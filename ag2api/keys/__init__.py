"""Client API keys: authentication, per-key policies and limits."""
