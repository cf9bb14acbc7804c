"""What the gateway knows about its own work: the trace of a request, usage statistics, metrics,
the requests open right now."""
