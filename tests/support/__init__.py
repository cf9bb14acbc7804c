"""What tests share that is not a fixture (the fixtures are in the conftest modules, which
nothing imports from):

* ``clients`` — the keys (``API_KEY``, ``ALICE``, ``ADMIN``) and the SDK builders.
* ``http`` — raw HTTP (``fetch``, ``health``) and free loopback ports.
* ``files`` — tokens.json and gateway.yaml: writing, reading, editing, reloading; a person's
  save without the lock (``HAND_SAVES``).
* ``gateways`` — more gateways than the ``app`` fixture's: in-process, or the real serve loop.
* ``replicas`` — gateways sharing one Redis, and waiting for what they learn from each other.
* ``redis_server`` — a private ``redis-server`` process.
* ``upstream`` — what the fake upstream was sent.
* ``helpers`` — ``chat_text``: one chat answer through the OpenAI SDK.
* ``accounts`` — ``accounts(n)``: account records in memory for a pool (no tokens.json).
* ``clock`` — ``FakeClock``; ``failover`` — the dispatcher's fakes (state, refresher, writer,
  upstream call) on it.
* ``cli`` — the ``ag2api`` command in a subprocess.
* ``claude_code_fixtures`` / ``claude_code_requests`` — what Claude Code sends;
  ``anthropic_sse_rules`` / ``responses_sse_rules`` — the streaming contracts as checkers.
* ``proxy_server`` — real HTTP and SOCKS5 proxies on loopback.
* ``console`` — what the browser tests do on a console page (sign in, show a page, refresh,
  screenshot).
"""
