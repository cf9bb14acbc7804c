"""Every Lua script of the Redis backend by the name its callers give, for the client to register:
each part's own beside it (``picking_scripts``, ``mirror_scripts``, ``tokens_scripts``,
``leader_scripts``, ``keylimits_scripts``, ``usage_scripts``) and those several share (``lua``).
Each runs with EVALSHA (loaded again on ``NOSCRIPT``, as after a restarted Redis).
"""

from __future__ import annotations

from ag2api.state.redis.keylimits_scripts import KEYLIMITS_SCRIPTS
from ag2api.state.redis.leader_scripts import LEADER_SCRIPTS
from ag2api.state.redis.lua import SHARED_SCRIPTS
from ag2api.state.redis.mirror_scripts import MIRROR_SCRIPTS
from ag2api.state.redis.picking_scripts import PICKING_SCRIPTS
from ag2api.state.redis.tokens_scripts import TOKENS_SCRIPTS
from ag2api.state.redis.usage_scripts import USAGE_SCRIPTS

SCRIPTS = {
    **PICKING_SCRIPTS,
    **MIRROR_SCRIPTS,
    **SHARED_SCRIPTS,
    **TOKENS_SCRIPTS,
    **LEADER_SCRIPTS,
    **KEYLIMITS_SCRIPTS,
    **USAGE_SCRIPTS,
}
