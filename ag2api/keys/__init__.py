"""Client API keys: which key a request presents (``auth``), what its policy allows
(``policies``), and counting its use against its limits (``limiter``)."""
