"""OpenAI Chat Completions ⇄ Gemini (``/v1/chat/completions``), the OpenAI model list and the
Images API."""
