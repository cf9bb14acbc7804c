"""Serving one request upstream across accounts: the dispatcher, its verdicts and retry
policy, the clock their waits run on, and the errors the client hears."""
