"""Gateway configuration: the frozen schema with its defaults (``schema``), the pure loader of
gateway.yaml, ``.env`` and ``AG2API_*`` (``load``, ``keys_reader`` for the client keys and their
policies, ``yamltree``, ``env``, ``checks``) and its one error (``errors``), the live snapshot
swapped on reload (``live``), which edits need a restart (``restart``), and the console's edits
of ``api_keys`` (``keys_file``; ``shared_keys``: which keys hosts share, at what version)."""
