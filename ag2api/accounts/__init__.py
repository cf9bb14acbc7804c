"""Google accounts: records, the tokens.json store, the rotating pool, token refresh."""
