"""The OpenAI Responses API (``/v1/responses``) over the dialect pipeline."""
