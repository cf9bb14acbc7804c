"""Client API ⇄ Gemini translation, pure (no I/O): the dialect table the handlers run (what an
entry is: ``dialect``), one folder per client API (``openai_chat/``, ``openai_responses/``,
``anthropic_messages/``, ``gemini_api/``), the Gemini side they share (``gemini/``: typed events
read from upstream answers, schemas, tools, turns, token counts), and what every dialect uses:
reading a client body (``input``), thought signatures carried in tool-call ids (``signatures``), the
client's own argument types given back (``typed_args``), and which conversation a request
continues (``conversation``).

``DIALECTS`` lists every client API the gateway speaks. Each entry (:class:`dialect.Dialect`)
says where the API is served — its generation route, its model list, its token-count route and
its side routes — how to read a body, translate it to a Gemini request and the upstream's
answers back, and how it words errors (:class:`dialect.Errors`) and frames streams.
``ag2api.handlers`` builds every client route from this table.

Every answer renders from the typed events ``gemini/events.py`` reads (``Reply.events``); the
Gemini API, which shows more of a response, also from ``Reply.meta`` (who answered, grounding,
citations, safety ratings, and the fields the gateway has no name for, as sent). None passes the
upstream body on.

Adding a dialect: a folder beside the others with the same files — ``dialect.py`` (the entry),
``request.py`` (body → Gemini request, and what the answer needs to know of the request),
``answer.py`` (the :class:`dialect.Answer` the handler drives, and the whole answer),
``stream.py`` (its stream events, or elements, and framing), ``render.py`` (what the whole answer
and the stream render alike), ``errors.py`` (``status``, ``body``, ``stream_error``), and where
the API has them ``models.py`` (its model list) and ``count.py`` (its token count) — then its
entry in ``DIALECTS``. No handler changes.
"""

from __future__ import annotations

from ag2api.translate.anthropic_messages.dialect import ANTHROPIC_MESSAGES
from ag2api.translate.dialect import Dialect
from ag2api.translate.gemini_api.dialect import GEMINI_API
from ag2api.translate.openai_chat.dialect import OPENAI_CHAT
from ag2api.translate.openai_responses.dialect import OPENAI_RESPONSES

# Where dialects share a model-list path, the first that claims a request answers it (a
# request carrying the Gemini key goes to the Gemini API whatever else it sends).
DIALECTS: tuple[Dialect, ...] = (OPENAI_CHAT, OPENAI_RESPONSES, GEMINI_API, ANTHROPIC_MESSAGES)

__all__ = ["DIALECTS", "Dialect"]
