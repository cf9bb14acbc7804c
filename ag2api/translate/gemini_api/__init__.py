"""The Gemini API (``/v1beta/models/{model}:generateContent`` …): Gemini CLI and google-genai."""
