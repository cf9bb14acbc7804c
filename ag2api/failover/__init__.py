"""Serving one request upstream across accounts: the dispatcher, its verdicts and retry
policy, and the errors the client hears."""
