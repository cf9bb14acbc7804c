"""The Redis backend of the live state."""
