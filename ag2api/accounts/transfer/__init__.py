"""Moving accounts in and out of tokens.json: ``ag2api accounts import`` and ``export``."""
