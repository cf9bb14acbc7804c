"""Logging: set-up, the off-loop writer, the request log and its report."""
