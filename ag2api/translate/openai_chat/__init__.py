"""OpenAI Chat Completions ⇄ Gemini (``/v1/chat/completions``), the OpenAI model list and the
Images API. Its entry (``dialect``); the body translated (``request``, with ``messages`` and
``tools``); the answer — the whole ``chat.completion`` (``answer``), its chunks (``stream``), what
both render alike (``render``); errors in OpenAI's shape (``errors``); the model list
(``models``); image generation (``images``)."""
