"""The Lua of :mod:`.leader`: win or renew the term (given up with ``unlock`` of :mod:`.lua`)."""

from __future__ import annotations

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

LEADER_SCRIPTS = {"lead": LEAD}
