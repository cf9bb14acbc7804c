"""Lua the Redis parts' scripts share: ``NOW`` (the time from Redis ``TIME``, so the replicas'
clocks do not matter), and the scripts more than one part runs — ``unlock`` (a lock or term given
up only by its holder: the refresh lock of :mod:`.tokens`, the leader's term) and ``renew`` (the
slot holds of :mod:`.picking` and the key leases of :mod:`.keylimits`, renewed every sync)."""

from __future__ import annotations

NOW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
"""

UNLOCK = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""

RENEW = (
    NOW
    + """
local n = 0
for i = 1, #KEYS do
  if redis.call('ZSCORE', KEYS[i], ARGV[i + 1]) then
    redis.call('ZADD', KEYS[i], 'XX', now + tonumber(ARGV[1]), ARGV[i + 1])
    redis.call('PEXPIRE', KEYS[i], tonumber(ARGV[1]) * 2)
    n = n + 1
  end
end
return n
"""
)

SHARED_SCRIPTS = {"unlock": UNLOCK, "renew": RENEW}
