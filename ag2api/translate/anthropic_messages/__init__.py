"""The Anthropic Messages API (``/v1/messages``) over Gemini requests and typed events: its entry
(``dialect``: routes, Claude Code's probes); the body translated (``request``, with ``messages``,
``tools`` and the thought ``signatures`` checkable from the request alone); the answer — the
whole message (``answer``), SSE events (``stream``), what both render alike (``render``); errors
in Anthropic's shape (``errors``); its model list (``models``) and token count (``count``)."""
