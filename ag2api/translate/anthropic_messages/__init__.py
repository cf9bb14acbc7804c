"""The Anthropic Messages API (``/v1/messages``) over Gemini requests and typed events."""
