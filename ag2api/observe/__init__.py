"""What the gateway knows about its own work: the trace of a request, usage statistics, metrics,
the accounts' quota, the requests open right now."""
