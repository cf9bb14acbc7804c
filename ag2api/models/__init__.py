"""Models: which upstream model a client's name means (aliases, the listed catalog) and what a
model family is (Claude, Gemini 2.5/3, image models; thinking configs and output caps)."""
