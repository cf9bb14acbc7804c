"""The Gemini API (``/v1beta/models/{model}:generateContent`` …): Gemini CLI and google-genai. Its
entry (``dialect``); the body, forwarded nearly as it is (``request``; the types of what it
forwards in ``checks``, Claude's signed thinking in ``thinking``); each chunk rendered from the
typed events (``render``) for the answer (``answer``) and the stream's elements and framing
(``stream``); errors in Google's shape (``errors``); its model list (``models``) and
``:countTokens`` (``count``)."""
