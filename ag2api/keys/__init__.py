"""Client API keys: which key a request presents (``auth``), what its policy allows
(``policies``), counting its use against its limits (``limiter``), and the one admission step
every generating route takes — key, allowed model, limits, settling (``admission``); each key's
policy against its use, the table of ``ag2api usage`` (``report``)."""
