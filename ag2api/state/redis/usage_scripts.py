"""The Lua of :mod:`.usage`: the leader's drain of the replicas' counts."""

from __future__ import annotations

# Usage statistics: read and delete in one step, so a count is drained once and never lost between.
DRAIN_USAGE = """
local counts = redis.call('HGETALL', KEYS[1])
if #counts > 0 then redis.call('DEL', KEYS[1]) end
return counts
"""

USAGE_SCRIPTS = {"drain_usage": DRAIN_USAGE}
