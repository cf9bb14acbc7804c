"""OpenAI Chat Completions ⇄ Gemini."""
