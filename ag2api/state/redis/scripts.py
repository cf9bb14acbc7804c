"""The Lua scripts of the Redis state backend, each run with EVALSHA (loaded again on
``NOSCRIPT``, as after a restarted Redis). :data:`SCRIPTS` names them for the client.

Times come from Redis ``TIME`` (``_NOW``), so the replicas' clocks do not matter.
"""

from __future__ import annotations

_NOW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
"""

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
    _NOW
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
    _NOW
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
    _NOW
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

# Picking an account for a model (docs: ag2api.state.base.Routing).
# KEYS: rot, dis, cd:<model>, cdm:<model>, probing:<model>, aff, aff:t, bal:<model>.
# ARGV: model, rotation count, slots per account, hold ms, hold id, slots key prefix, n,
# strategy, conversation ('' none), '1' when it starts here, affinity ms, most conversations
# kept, then per account: id,
# '1' usable / 'x' excluded from this request / '0' disabled, refresh-token digest, quota left
# (0..1; '' unknown), '1' when it may serve on credits.
# Returns {'ok', id, probe, rotation uses, credits, affinity outcome} | {'full'} |
# {'cooling', ms until the first recovers} | {'none'}.
PICK = (
    _NOW
    + """
local model, count, per = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local ttl, lease, sp, n = tonumber(ARGV[4]), ARGV[5], ARGV[6], tonumber(ARGV[7])
local strategy, conv, fresh = ARGV[8], ARGV[9], ARGV[10] == '1'
local aff_ttl, aff_max = tonumber(ARGV[11]), tonumber(ARGV[12])
local ids, flag, rts, rem, cred, pos = {}, {}, {}, {}, {}, {}
for i = 1, n do
  local b = 12 + 5 * (i - 1)
  ids[i], flag[i], rts[i] = ARGV[b + 1], ARGV[b + 2], ARGV[b + 3]
  rem[i] = tonumber(ARGV[b + 4]) or 1
  cred[i] = ARGV[b + 5] == '1'
  pos[ids[i]] = i
end

local function disabled(i)
  if flag[i] == '0' then return true end
  local d = redis.call('HGET', KEYS[2], ids[i])
  return d ~= false and string.sub(d, 1, string.len(rts[i]) + 1) == rts[i] .. '|'
end

local function has_room(i)
  local sk = sp .. ids[i]
  redis.call('ZREMRANGEBYSCORE', sk, '-inf', now)
  return redis.call('ZCARD', sk) < per
end

-- ready, probe, cooling (with its end), busy_probe, full, excluded, disabled
local function standing(i)
  if disabled(i) then return 'disabled' end
  if flag[i] == 'x' then return 'excluded' end
  if model ~= '' then
    local u = tonumber(redis.call('ZSCORE', KEYS[3], ids[i]) or '0')
    if u > now then return 'cooling', u end
    local meta = redis.call('HGET', KEYS[4], ids[i])
    if meta and string.sub(meta, 1, 1) == 'p' then
      if tonumber(redis.call('HGET', KEYS[5], ids[i]) or '0') > now then return 'busy_probe' end
      if not has_room(i) then return 'full' end
      return 'probe'
    end
  end
  if not has_room(i) then return 'full' end
  return 'ready'
end

local bound, outcome = nil, ''
local function finish(i, probe, uses, credits)
  redis.call('ZADD', sp .. ids[i], now + ttl, lease)
  redis.call('PEXPIRE', sp .. ids[i], ttl * 2)
  if probe then redis.call('HSET', KEYS[5], ids[i], now + ttl) end
  if conv ~= '' and outcome ~= 'detour' then
    redis.call('HSET', KEYS[6], conv, ids[i] .. '|' .. (now + aff_ttl))
    redis.call('ZADD', KEYS[7], now + aff_ttl, conv)
    local over = redis.call('ZRANGEBYSCORE', KEYS[7], '-inf', now, 'LIMIT', 0, 16)
    local extra = redis.call('ZCARD', KEYS[7]) - #over - aff_max
    if extra > 0 then
      for _, c in ipairs(redis.call('ZRANGE', KEYS[7], 0, math.min(extra, 16) - 1)) do
        table.insert(over, c)
      end
    end
    for _, c in ipairs(over) do
      redis.call('HDEL', KEYS[6], c)
      redis.call('ZREM', KEYS[7], c)
    end
    redis.call('PEXPIRE', KEYS[6], aff_ttl)
    redis.call('PEXPIRE', KEYS[7], aff_ttl)
  end
  return {'ok', ids[i], probe and 1 or 0, uses, credits, outcome}
end

if conv ~= '' then
  outcome = 'new'
  local b = false
  if not fresh then b = redis.call('HGET', KEYS[6], conv) end
  if b then
    local sep = string.find(b, '|', 1, true)
    if sep and tonumber(string.sub(b, sep + 1)) > now then
      bound = pos[string.sub(b, 1, sep - 1)]
    end
  end
  if bound then
    local st = standing(bound)
    if st == 'excluded' then -- failed this request: cooling or disabled since?
      flag[bound] = '1'
      local since = standing(bound)
      flag[bound] = 'x'
      if since ~= 'ready' and since ~= 'probe' and since ~= 'full' then st = since end
    end
    if st == 'ready' or st == 'probe' then
      outcome = 'hit'
      return finish(bound, st == 'probe', 0, 0)
    end
    if st == 'excluded' or st == 'full' then outcome = 'detour' else outcome = 'moved' end
  end
end

local cur = redis.call('HGET', KEYS[1], 'cur')
local uses = tonumber(redis.call('HGET', KEYS[1], 'uses') or '0')
local idx = pos[cur] or 0
if idx == 0 then idx, uses = 1, 0 end
local saw_cooling, saw_full, earliest = false, false, nil
local function note(st, u)
  if st == 'cooling' or st == 'busy_probe' then
    saw_cooling = true
    if u and (earliest == nil or u < earliest) then earliest = u end
  elseif st == 'full' then
    saw_full = true
  end
end

if strategy == 'rotate' then
  for step = 1, n do
    local st, u = standing(idx)
    if st == 'ready' or st == 'probe' then
      uses = uses + 1
      if uses >= count then
        redis.call('HSET', KEYS[1], 'cur', ids[idx % n + 1], 'uses', 0)
      else
        redis.call('HSET', KEYS[1], 'cur', ids[idx], 'uses', uses)
      end
      return finish(idx, st == 'probe', uses, 0)
    end
    note(st, u)
    idx = idx % n + 1
    uses = 0
  end
else
  if strategy == 'fill' then
    for i = 1, n do
      local st, u = standing(i)
      if st == 'ready' or st == 'probe' then return finish(i, st == 'probe', 0, 0) end
      note(st, u)
    end
  else
    -- balanced: smooth weighted round robin, weights = quota left (see MemoryState._balanced)
    local ready, total, best, best_credit = {}, 0, nil, nil
    for k = 0, n - 1 do
      local i = (idx - 1 + k) % n + 1
      local st, u = standing(i)
      if st == 'ready' or st == 'probe' then
        local w = math.max(0.01, rem[i])
        local c = tonumber(redis.call('HGET', KEYS[8], ids[i]) or '0') + w
        table.insert(ready, {i, st, c})
        total = total + w
        if best == nil or c > best_credit then best, best_credit = #ready, c end
      else
        note(st, u)
      end
    end
    if best then
      for j, r in ipairs(ready) do
        local c = r[3]
        if j == best then c = c - total end
        redis.call('HSET', KEYS[8], ids[r[1]], tostring(c))
      end
      redis.call('PEXPIRE', KEYS[8], 86400000)
      local i = ready[best][1]
      redis.call('HSET', KEYS[1], 'cur', ids[i % n + 1], 'uses', 0)
      return finish(i, ready[best][2] == 'probe', 0, 0)
    end
  end
end
if saw_full then return {'full'} end
if saw_cooling then
  local cands = {}
  if bound then cands[1] = bound end
  for i = 1, n do table.insert(cands, i) end
  for _, i in ipairs(cands) do
    if cred[i] and flag[i] == '1' and not disabled(i) then
      local u = tonumber(redis.call('ZSCORE', KEYS[3], ids[i]) or '0')
      local meta = redis.call('HGET', KEYS[4], ids[i])
      if u > now and meta and string.sub(meta, 3, 17) == 'QUOTA_EXHAUSTED' and has_room(i) then
        return finish(i, false, 0, 1)
      end
    end
  end
  if earliest == nil then return {'cooling', 1000} end
  return {'cooling', earliest - now}
end
return {'none'}
"""
)

COOL = (
    _NOW
    + """
local u = now + tonumber(ARGV[2])
local old = tonumber(redis.call('ZSCORE', KEYS[1], ARGV[1]) or '0')
if u <= old then return {0, old - now} end
redis.call('ZADD', KEYS[1], u, ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
redis.call('HDEL', KEYS[3], ARGV[1])
redis.call('SADD', KEYS[4], ARGV[4])
local keep = tonumber(ARGV[2]) + 86400000
for _, k in ipairs({KEYS[1], KEYS[2]}) do
  if redis.call('PTTL', k) < keep then redis.call('PEXPIRE', k, keep) end
end
return {1, u - now}
"""
)

# A slot hold whose pick or release got no answer: removed from whichever account's slots hold
# it, with the half-open probe it started (the probe's end was set with the hold's).
# KEYS: slots zsets, then the model's probing hash. ARGV: hold id, then the accounts of KEYS.
FORGET = """
local probing = KEYS[#KEYS]
local n = 0
for i = 1, #KEYS - 1 do
  local ends = redis.call('ZSCORE', KEYS[i], ARGV[1])
  if ends then
    redis.call('ZREM', KEYS[i], ARGV[1])
    local acct = ARGV[i + 1]
    if tonumber(redis.call('HGET', probing, acct) or '-1') == tonumber(ends) then
      redis.call('HDEL', probing, acct)
    end
    n = n + 1
  end
end
return n
"""

RELEASE = (
    _NOW
    + """
redis.call('ZREM', KEYS[1], ARGV[1])
if ARGV[3] == '1' then
  redis.call('HDEL', KEYS[2], ARGV[2])
  if ARGV[4] == '1' then
    local u = tonumber(redis.call('ZSCORE', KEYS[3], ARGV[2]) or '-1')
    if u >= 0 and u <= now then
      redis.call('ZREM', KEYS[3], ARGV[2])
      redis.call('HDEL', KEYS[4], ARGV[2])
      return 1
    end
  end
end
return 0
"""
)

RENEW = (
    _NOW
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

# Everything the local view mirrors, in one round trip: [now, disables, {model, cd, cdm}...].
SYNC = (
    _NOW
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

# A rotated refresh token: ARGV account, the first token it replaced (raw), the digests of the
# tokens it replaced (oldest first, comma-separated), the new token, how many digests to keep.
# When the stored entry's token is the one replaced, its digests go first: a replica holding any
# older token of the chain still recognises it.
ROTATE = """
local cur = redis.call('HGET', KEYS[1], ARGV[1])
local replaced = ARGV[3]
if cur then
  local sep = string.find(cur, '|', 1, true)
  if sep and string.sub(cur, sep + 1) == ARGV[2] then
    replaced = string.sub(cur, 1, sep - 1) .. ',' .. replaced
  end
end
local parts = {}
for d in string.gmatch(replaced, '[^,]+') do table.insert(parts, d) end
local cap = tonumber(ARGV[5])
local first = math.max(1, #parts - cap + 1)
local kept = {}
for i = first, #parts do table.insert(kept, parts[i]) end
redis.call('HSET', KEYS[1], ARGV[1], table.concat(kept, ',') .. '|' .. ARGV[4])
return 1
"""

# A hash field deleted only while it still holds the value read (no newer write is lost).
HDEL_IF = """
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then
  return redis.call('HDEL', KEYS[1], ARGV[1])
end
return 0
"""

UNLOCK = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""

LEAD = """
local cur = redis.call('GET', KEYS[1])
if cur == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if not cur then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
"""

# Usage statistics: read and delete in one step, so a count is drained once and never lost between.
DRAIN_USAGE = """
local counts = redis.call('HGETALL', KEYS[1])
if #counts > 0 then redis.call('DEL', KEYS[1]) end
return counts
"""

TOKEN = """
local t = redis.call('GET', KEYS[1])
if not t then return nil end
return {t, redis.call('PTTL', KEYS[1])}
"""

SCRIPTS = {
    "pick": PICK,
    "forget": FORGET,
    "cool": COOL,
    "release": RELEASE,
    "renew": RENEW,
    "sync": SYNC,
    "unlock": UNLOCK,
    "hdel_if": HDEL_IF,
    "rotate": ROTATE,
    "lead": LEAD,
    "token": TOKEN,
    "key_admit": KEY_ADMIT,
    "key_forget": KEY_FORGET,
    "key_charge": KEY_CHARGE,
    "key_use": KEY_USE,
    "drain_usage": DRAIN_USAGE,
}
