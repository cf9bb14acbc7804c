"""The operator's side: the console's pages (``templates/``, their scripts and styles in
``static/``) and its JSON API (``api/``), the read-only endpoints and /metrics (``handlers``),
every route (``routes``); who is calling and whether a write may go (``base``, the client's
address behind trusted proxies in ``client_address``); sign-in sessions (``sessions``), the
throttle on admin-key guesses (``throttle``), the write log (``audit``), what a process keeps in
memory for them (``access``); adding an account from the page (``oauth``); and what the pages
show, built from the live state (``views``)."""
