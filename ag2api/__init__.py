"""ag2api: an OpenAI-compatible gateway for Google's Antigravity backend."""

__version__ = "0.1.0"
