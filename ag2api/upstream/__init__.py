"""Calling the Antigravity backend: transport, SSE decoding, envelope, error bodies."""
