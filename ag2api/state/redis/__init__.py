"""The live account state shared through Redis (``state.backend: redis``), 7.0 or later.

:class:`ag2api.state.redis.state.RedisState` (``state``) holds the parts: ``client``
(connection, bounded round trip, work owed to a Redis that comes back), ``picking`` (rotation, slot
holds, probes, cooldowns, disables), ``tokens``, ``keylimits``, ``records``, ``usage``,
``leader``, ``mirror``, ``accounts_sync`` (the account list hosts share, with
``account_records``), ``keys_sync`` (console-made client keys hosts share); the memory backend is
the local view each falls back to. Each part's Lua sits beside it (``picking_scripts``,
``mirror_scripts``, ``tokens_scripts``, ``leader_scripts``, ``keylimits_scripts``,
``usage_scripts``, ``sync_scripts`` for both shared lists), what several share in ``lua``, and
``scripts`` names them all for the client. Both shared lists run their rounds in ``rounds``.

Every replica on the same tokens.json computes the same account ids (``account_key``, a hash: no
token, email or project id appears in a key) and uses its local view when Redis does not answer
within ``state.timeout``. Keys, under ``state.key_prefix`` (default ``ag:v1:``):

==========================  =====================================================================
``rot``                     hash ``cur``, ``uses``: the pool-wide rotation turn
``cd:<model>``              zset account → cooldown end (ms, Redis time); ``ZADD`` only extends
``cdm:<model>``             hash account → ``p|reason`` (probe after it) or ``-|reason``
``probing:<model>``         hash account → end of the one half-open probe in flight (ms)
``models``                  set of models with cooldowns (what the local view re-reads)
``aff``                     hash conversation (a hash of its id and the model) →
                            ``<account>|<expiry ms>``: the account of its last turn
``aff:t``                   zset conversation → expiry (ms): which ``aff`` entries to drop, oldest
                            first, when over or beyond ``MAX_CONVERSATIONS``
``bal:<model>``             hash account → credit: balanced routing's smooth weighted round robin
``slots:<account>``         zset hold id → hold end (ms): per-account slots, pool-wide, renewed
                            while held (``state.lease_seconds``)
``dis``                     hash account → ``<refresh-token hash>|<reason>``: runtime disables;
                            ``+<refresh-token hash>|``: put back by a recheck (every replica
                            enables its copy)
``tok:<account>``           string access token, ``PX`` its remaining life (``enc:v1:…`` with a
                            key set, like the new refresh token in ``rtok``)
``rtok``                    hash account → ``<hashes of the refresh tokens it replaced>|<hash of
                            the new one>|<new one>``: a refresh token Google rotated on some
                            replica, until a new login (only with a key: it is stored sealed)
``lock:refresh:<account>``  the single-flight refresh lock (``SET NX PX``, compare-and-delete)
``leader``                  the replica that writes runtime changes to tokens.json
``rec:<kind>:<sha256>``     records (Claude thinking blocks), ``PX``
``blob:<sha256>``           stored Responses API answers, ``PX``
``usage:pending``           hash ``[day, key label, model, project, column]`` (JSON) → count: the
                            replicas' usage statistics until the leader drains them into its store
``kl:{<key id>}:req``       zset request id → ms: a client key's requests in the last minute
``kl:{<key id>}:tok``       zset ``<id>|<tokens>`` → ms: its tokens in the last minute
``kl:{<key id>}:lease``     zset lease id → expiry (ms): its requests in flight (renewed like
                            ``slots:``)
``kl:{<key id>}:d:<day>``   its tokens that UTC day (``m:<month>``: that month)
``acct:<account>``          hash: the account as hosts share it — ``name`` (its project id), per
                            field ``s:<field>`` (its version) and ``x:<field>`` (its value; a
                            refresh token sealed), ``s:added``, ``s:gone`` (no TTL)
``accts``                   zset account → change number (``accts:seq`` counts them)
``accts:epoch``             this copy of the list (a flushed Redis gets a new one)
``accts:gone``              zset account → removal time: tombstones, kept ``state.tombstone_days``
``accts:hosts``             hash host → when it last synced, and what it had not merged
``skey:<label id>``         hash: a client key shared from the console — ``name`` (its label),
                            ``s:entry``/``x:entry`` (``{"key": "sha256:…", "policy"}``),
                            ``s:gone``; ``skeys``, ``skeys:seq``, ``skeys:epoch``, ``skeys:gone``
                            as for accounts (no TTL)
==========================  =====================================================================

Times are Redis ``TIME`` inside scripts or relative TTLs, so the replicas' clocks do not matter.
The scripts build some key names from arguments, so this needs one Redis (or a primary), not
Redis Cluster.
"""
