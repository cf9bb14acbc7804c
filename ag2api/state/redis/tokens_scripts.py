"""The Lua of :mod:`.tokens`: an access token with its remaining life, a rotated refresh token,
and its entry dropped only while unchanged (the refresh lock is given up with ``unlock`` of
:mod:`.lua`)."""

from __future__ import annotations

TOKEN = """
local t = redis.call('GET', KEYS[1])
if not t then return nil end
return {t, redis.call('PTTL', KEYS[1])}
"""

# A rotated refresh token: ARGV account, the digest of the first token it replaced, the digests
# of the tokens it replaced (oldest first, comma-separated), the digest of the new token, the new
# token (sealed with a key), how many digests to keep. Stored as "<replaced>|<new digest>|<new>".
# When the stored entry's token is the one replaced, its digests go first: a replica holding any
# older token of the chain still recognises it.
ROTATE = """
local cur = redis.call('HGET', KEYS[1], ARGV[1])
local replaced = ARGV[3]
if cur then
  local a = string.find(cur, '|', 1, true)
  local b = a and string.find(cur, '|', a + 1, true)
  if b and string.sub(cur, a + 1, b - 1) == ARGV[2] then
    replaced = string.sub(cur, 1, a - 1) .. ',' .. replaced
  end
end
local parts = {}
for d in string.gmatch(replaced, '[^,]+') do table.insert(parts, d) end
local cap = tonumber(ARGV[6])
local first = math.max(1, #parts - cap + 1)
local kept = {}
for i = first, #parts do table.insert(kept, parts[i]) end
redis.call('HSET', KEYS[1], ARGV[1], table.concat(kept, ',') .. '|' .. ARGV[4] .. '|' .. ARGV[5])
return 1
"""

# A hash field deleted only while it still holds the value read (no newer write is lost).
HDEL_IF = """
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then
  return redis.call('HDEL', KEYS[1], ARGV[1])
end
return 0
"""

TOKENS_SCRIPTS = {"token": TOKEN, "rotate": ROTATE, "hdel_if": HDEL_IF}
