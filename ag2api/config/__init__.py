"""Gateway configuration: frozen schema, pure loader, live snapshot holder."""
