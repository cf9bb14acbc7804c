"""The Gemini side of translation, shared by every dialect: typed events read from upstream
answers, schemas, tools, token counts, turns (and closing Claude's tool loops), sessions, the
model families' request rules."""
