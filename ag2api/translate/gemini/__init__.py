"""The Gemini side of translation, shared by every dialect: typed events read from upstream
answers (``events``), schemas (``schema``), tools (``tools``), token counts (``count``), turns and
closing Claude's tool loops (``turns``), the upstream session id (``session``), the model
families' request rules (``family_rules``)."""
