"""Pure translation between client dialects and plain Gemini generateContent (no I/O)."""
