"""The Lua of :mod:`.picking`: one pick per call (rotation, strategies, conversations, slot
holds, probes), cooldowns, releases, and the holds a lost answer left behind."""

from __future__ import annotations

from ag2api.state.redis.lua import NOW

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
    NOW
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
    NOW
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
    NOW
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

PICKING_SCRIPTS = {"pick": PICK, "forget": FORGET, "cool": COOL, "release": RELEASE}
