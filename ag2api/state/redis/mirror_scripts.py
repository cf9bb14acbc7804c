"""The Lua of :mod:`.mirror`: what the local view re-reads each sync, in one round trip."""

from __future__ import annotations

from ag2api.state.redis.lua import NOW

# Everything the local view mirrors, in one round trip: [now, disables, {model, cd, cdm}...].
SYNC = (
    NOW
    + """
local out = {now, redis.call('HGETALL', KEYS[1]), redis.call('HGETALL', KEYS[3])}
for _, m in ipairs(redis.call('SMEMBERS', KEYS[2])) do
  local cd = ARGV[1] .. 'cd:' .. m
  redis.call('ZREMRANGEBYSCORE', cd, '-inf', now - 86400000)
  local scores = redis.call('ZRANGE', cd, 0, -1, 'WITHSCORES')
  if #scores == 0 then
    redis.call('SREM', KEYS[2], m)
  else
    table.insert(out, {m, scores, redis.call('HGETALL', ARGV[1] .. 'cdm:' .. m)})
  end
end
return out
"""
)

MIRROR_SCRIPTS = {"sync": SYNC}
