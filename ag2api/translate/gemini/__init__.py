"""The Gemini side of translation: typed events, schemas, tools, counts, turns, sessions."""
