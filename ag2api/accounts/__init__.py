"""Google accounts: what one is (``model``) and tokens.json, the file that holds them — the only
code that reads or writes it (``store``), the gateway's own changes written back off the loop
(``writer``), tokens sealed at rest (``crypto``). The rotating pool (``pool``) and its
concurrency slots (``slots``); access-token refresh (``refresh``). Adding an account
(``login``: OAuth consent in the browser, its ``callback`` listener, which OAuth client signs in
and refreshes (``oauth_client``), the blocking Google calls (``google_calls``)). Each account's
own proxy and User-Agent (``proxies``); what a disabled account's reason means and whether it
passes (``standing``), and bringing it back when it does (``recheck``). The ``ag2api accounts``
and ``ag2api login`` commands (``cli``, ``commands``, ``login_cli``) and moving accounts in and
out of the file (``transfer/``)."""
