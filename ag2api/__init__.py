"""ag2api: a gateway that puts OpenAI Chat Completions and Responses, Anthropic Messages and the
Gemini API in front of Google's Antigravity backend (Cloud Code ``v1internal``).

Entry points: the ``ag2api`` command (``cli``), the Tornado application and its serve loop
(``app``), the shared objects of one running gateway (``services``) and ``--demo`` in front of
the fake upstream (``demo``). Leaves any package may use: every failure the gateway reports
(``errors``), random ids (``ids``), the hot-path JSON codec (``jsoncodec``), masking of secrets
(``redact``).

Packages: files written atomically under their lock (``files/``); calling Antigravity
(``upstream/``); logging (``logs/``); traces, usage and metrics (``observe/``); each account's
quota (``quota/``); the configuration (``config/``, the built-in gateway.yaml in
``defaults/``); model names, the catalog and families (``models/``); client keys and the one
admission step (``keys/``); Google accounts and tokens.json (``accounts/``); pure translation
between the client APIs and Gemini (``translate/``); the pool's live state (``state/``); remote
images (``media/``); one request upstream across accounts (``failover/``); the fake upstream
(``testing/``); the client-facing HTTP handlers (``handlers/``); the operator's side
(``admin/``); and the process around it all (``server/``)."""

__version__ = "0.1.0"
