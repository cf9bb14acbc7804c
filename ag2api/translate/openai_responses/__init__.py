"""The OpenAI Responses API (``/v1/responses``) over the dialect pipeline. Its entry (``dialect``);
the body translated (``request``: ``input`` items in ``items``, ``tools``, what a reasoning
item's ``encrypted_content`` carries in ``carrier``, ``previous_response_id`` and ``store`` as
pure functions in ``memory``); the answer (``answer``), one state machine for the stream and the
whole response alike (``stream``), what both render alike (``render``); errors — OpenAI's JSON,
then ``response.failed`` (``errors``); and Codex's remote compaction (``compaction``)."""
