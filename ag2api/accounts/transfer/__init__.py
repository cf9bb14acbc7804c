"""Moving accounts in and out of tokens.json: ``ag2api accounts import`` and ``export``. The
account files of ag2api and its peers read into one shape (``formats``); read entries added to
tokens.json, duplicates merged and missing projects looked up (``merge``); tokens.json's
accounts written in our format or a peer's (``export``)."""
