"""The Lua of :mod:`.keylimits`: a client key's admission, charge and use, counted by Redis for
every replica (the rules of :class:`ag2api.keys.limiter.MemoryLimiter`)."""

from __future__ import annotations

from ag2api.state.redis.lua import NOW

# A key's tokens in the window ("<id>|<tokens>" members with their ms scores, oldest first), and
# how long until it is back under ``tpm`` (0 when it is not over).
_TOKEN_WINDOW = """
local function token_window(items, tpm, win, now)
  local used = 0
  for i = 1, #items, 2 do
    local s = items[i]
    used = used + tonumber(string.sub(s, string.find(s, '|', 1, true) + 1))
  end
  if tpm <= 0 or used < tpm then return used, 0 end
  local left = used
  for i = 1, #items, 2 do
    local s = items[i]
    left = left - tonumber(string.sub(s, string.find(s, '|', 1, true) + 1))
    if left < tpm then return used, tonumber(items[i + 1]) + win - now end
  end
  return used, 0
end
"""

# Per-key limits (ag2api.keys). KEYS: requests zset (lease id → ms), tokens zset
# ("<id>|<tokens>" → ms), leases zset (lease id → expiry ms), day and month token counters.
# ARGV: rpm, tpm, max_concurrent, daily, monthly (0: none), lease id, lease ms, window ms.
# Returns {reason, retry ms, requests used, tokens used, requests reset ms, tokens reset ms,
# day used, month used}; reason '' when admitted (the request is counted and the lease held).
KEY_ADMIT = (
    NOW
    + _TOKEN_WINDOW
    + """
local rpm, tpm, conc = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local daily, monthly = tonumber(ARGV[4]), tonumber(ARGV[5])
local lease, lease_ms, win = ARGV[6], tonumber(ARGV[7]), tonumber(ARGV[8])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - win)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - win)
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)
local rused = redis.call('ZCARD', KEYS[1])
local items = redis.call('ZRANGE', KEYS[2], 0, -1, 'WITHSCORES')
local tused, treset = token_window(items, tpm, win, now)
local dused = tonumber(redis.call('GET', KEYS[4]) or '0')
local mused = tonumber(redis.call('GET', KEYS[5]) or '0')
local function oldest()
  local o = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  if #o == 0 then return 0 end
  return tonumber(o[2]) + win - now
end
local reason, retry = '', 0
if daily > 0 and dused >= daily then reason = 'daily'
elseif monthly > 0 and mused >= monthly then reason = 'monthly'
elseif tpm > 0 and tused >= tpm then reason, retry = 'tpm', treset
elseif rpm > 0 and rused >= rpm then reason, retry = 'rpm', oldest()
elseif conc > 0 and redis.call('ZCARD', KEYS[3]) >= conc then reason, retry = 'concurrency', 1000
end
if reason ~= '' then
  return {reason, retry, rused, tused, oldest(), treset, dused, mused}
end
if rpm > 0 then
  redis.call('ZADD', KEYS[1], now, lease)
  redis.call('PEXPIRE', KEYS[1], win)
  rused = rused + 1
end
if conc > 0 then
  redis.call('ZADD', KEYS[3], now + lease_ms, lease)
  redis.call('PEXPIRE', KEYS[3], lease_ms)
end
return {'', 0, rused, tused, oldest(), treset, dused, mused}
"""
)

# An admission whose answer was lost: its request and its lease go. KEYS: requests zset, leases
# zset. ARGV: lease id.
KEY_FORGET = """
redis.call('ZREM', KEYS[1], ARGV[1])
return redis.call('ZREM', KEYS[2], ARGV[1])
"""

# KEYS: tokens zset, day counter, month counter. ARGV: tokens, entry id, window ms, day ttl s,
# month ttl s.
KEY_CHARGE = (
    NOW
    + """
local n = tonumber(ARGV[1])
redis.call('ZADD', KEYS[1], now, ARGV[2] .. '|' .. ARGV[1])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[3]))
redis.call('INCRBY', KEYS[2], n)
redis.call('EXPIRE', KEYS[2], tonumber(ARGV[4]))
redis.call('INCRBY', KEYS[3], n)
redis.call('EXPIRE', KEYS[3], tonumber(ARGV[5]))
return 1
"""
)

# KEYS: requests zset, tokens zset, leases zset, day, month. ARGV: window ms, tpm (0: none).
# Read-only: {requests, tokens, in flight, day, month, requests reset ms, tokens reset ms}.
KEY_USE = (
    NOW
    + _TOKEN_WINDOW
    + """
local win, tpm = tonumber(ARGV[1]), tonumber(ARGV[2])
local items = redis.call('ZRANGEBYSCORE', KEYS[2], '(' .. (now - win), '+inf', 'WITHSCORES')
local tused, treset = token_window(items, tpm, win, now)
local reqs = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. (now - win), '+inf', 'WITHSCORES')
local rreset = 0
if #reqs > 0 then rreset = tonumber(reqs[2]) + win - now end
return {#reqs / 2, tused, redis.call('ZCOUNT', KEYS[3], '(' .. now, '+inf'),
        tonumber(redis.call('GET', KEYS[4]) or '0'), tonumber(redis.call('GET', KEYS[5]) or '0'),
        rreset, treset}
"""
)

KEYLIMITS_SCRIPTS = {
    "key_admit": KEY_ADMIT,
    "key_forget": KEY_FORGET,
    "key_charge": KEY_CHARGE,
    "key_use": KEY_USE,
}
