"""Serving one request upstream across accounts. The attempts loop (``dispatcher``) asks where
each attempt goes (``picking``: account, slot, fallback model, the grant given back), runs it on
that account (``attempt``: refresh-and-retry, base URLs) for what the request is served
(``served``), judges each failure (``verdicts``, ``rejections`` for masked content refusals)
and retries under ``retry`` on a ``clock``; ``client_errors`` is what the client hears,
``notices`` what the operator must act on. Side calls on the same accounts: token counts
(``token_counts``) and the recheck's probe (``recheck_probe``)."""
