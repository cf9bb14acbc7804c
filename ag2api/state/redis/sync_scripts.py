"""The Lua scripts of the lists hosts share — accounts (:mod:`ag2api.state.redis.accounts_sync`)
and console-made client keys (:mod:`ag2api.state.redis.keys_sync`) — run like those of
:mod:`ag2api.state.redis.scripts`. Each list is a hash per record (``<name>`` field: its project
id or label; ``s:<field>`` stamps, ``x:<field>`` values), an index zset record → change number,
a change counter, an epoch and a tombstones zset. Times are Redis ``TIME``.

A stamp is ``<ms>|<p|g>|<host>``: the later time wins; on a tie a person's change (``p``) beats
the gateway's own (``g``), then the greater host name, so every host orders two stamps alike.
"""

from __future__ import annotations

from ag2api.state.redis.lua import NOW

_NEWER = """
local function newer(a, b)
  local av, ak, ah = string.match(a, '^(%d+)|(%a)|(.*)$')
  local bv, bk, bh = string.match(b, '^(%d+)|(%a)|(.*)$')
  if not bv then return true end
  av, bv = tonumber(av), tonumber(bv)
  if av ~= bv then return av > bv end
  if ak ~= bk then return ak == 'p' end
  return ah > bh
end
"""

# KEYS: index zset (record → change number), change counter, epoch, tombstones zset (record →
# removal ms). ARGV: record hash prefix, the epoch to set when there is none (an empty or flushed
# Redis), number of records; per record: id, name, number of entries, then per entry: field,
# ms (-1: now), kind (p|g), host, value (JSON; '' for the ``added``/``gone`` stamps).
# Each entry is kept only if its stamp is newer than the one held. Returns {epoch, now,
# {id, HGETALL}...}.
VERSIONED_PUT = (
    NOW
    + _NEWER
    + """
local epoch = redis.call('GET', KEYS[3])
if not epoch then
  epoch = ARGV[2]
  redis.call('SET', KEYS[3], epoch)
end
local i, out = 4, {epoch, now}
for _ = 1, tonumber(ARGV[3]) do
  local id, pid, n = ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 2])
  i = i + 3
  local key = ARGV[1] .. id
  local changed = false
  for _ = 1, n do
    local name, ms, kind, host, value = ARGV[i], tonumber(ARGV[i + 1]), ARGV[i + 2],
      ARGV[i + 3], ARGV[i + 4]
    i = i + 5
    if ms < 0 then ms = now end
    local stamp = string.format('%d', ms) .. '|' .. kind .. '|' .. host
    local cur = redis.call('HGET', key, 's:' .. name)
    if not cur or newer(stamp, cur) then
      redis.call('HSET', key, 's:' .. name, stamp)
      if value ~= '' then redis.call('HSET', key, 'x:' .. name, value) end
      changed = true
    end
  end
  if changed then
    redis.call('HSET', key, 'name', pid)
    redis.call('ZADD', KEYS[1], redis.call('INCR', KEYS[2]), id)
    local added, gone = redis.call('HGET', key, 's:added'), redis.call('HGET', key, 's:gone')
    if gone and (not added or newer(gone, added)) then
      redis.call('ZADD', KEYS[4], tonumber(string.match(gone, '^(%d+)')), id)
    else
      redis.call('ZREM', KEYS[4], id)
    end
  end
  table.insert(out, {id, redis.call('HGETALL', key)})
end
return out
"""
)

# The records changed since a change number, and who syncs. KEYS: index zset, epoch, hosts hash.
# ARGV: record hash prefix, since, limit, this host ('': not noted), its report. Returns {now,
# epoch ('' when none), hosts, {id, change number, HGETALL}...}, oldest change first.
VERSIONED_PULL = (
    NOW
    + """
if ARGV[4] ~= '' then
  redis.call('HSET', KEYS[3], ARGV[4], string.format('%d', now) .. '|' .. ARGV[5])
end
local items = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. ARGV[2], '+inf', 'WITHSCORES', 'LIMIT',
  0, tonumber(ARGV[3]))
local out = {now, redis.call('GET', KEYS[2]) or '', redis.call('HGETALL', KEYS[3])}
for i = 1, #items, 2 do
  table.insert(out, {items[i], items[i + 1], redis.call('HGETALL', ARGV[1] .. items[i])})
end
return out
"""
)

# Tombstones older than the retention go (a record removed that long ago is forgotten), and
# hosts not seen for as long. KEYS: index, tombstones, hosts. ARGV: record hash prefix, keep ms,
# limit. Returns how many records went.
VERSIONED_PURGE = (
    NOW
    + """
local keep = tonumber(ARGV[2])
local old = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now - keep, 'LIMIT', 0,
  tonumber(ARGV[3]))
for _, id in ipairs(old) do
  redis.call('DEL', ARGV[1] .. id)
  redis.call('ZREM', KEYS[1], id)
  redis.call('ZREM', KEYS[2], id)
end
local hosts = redis.call('HGETALL', KEYS[3])
for i = 1, #hosts, 2 do
  local seen = tonumber(string.match(hosts[i + 1], '^(%d+)'))
  if seen and seen < now - keep then redis.call('HDEL', KEYS[3], hosts[i]) end
end
return #old
"""
)

SYNC_SCRIPTS = {
    "versioned_put": VERSIONED_PUT,
    "versioned_pull": VERSIONED_PULL,
    "versioned_purge": VERSIONED_PURGE,
}
