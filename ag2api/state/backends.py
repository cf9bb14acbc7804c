"""The one place that chooses the live-state backend ``state.backend`` names."""

from __future__ import annotations

from ag2api.accounts.crypto import PLAINTEXT, TokenCipher
from ag2api.accounts.pool import AccountPool
from ag2api.accounts.slots import SlotLimiter
from ag2api.accounts.writer import TokenWriter
from ag2api.config.schema import GatewayConfig
from ag2api.state.base import AccountState
from ag2api.state.memory import MemoryState
from ag2api.state.redis.state import RedisState


def make_state(
    cfg: GatewayConfig,
    pool: AccountPool,
    slots: SlotLimiter,
    writer: TokenWriter,
    cipher: TokenCipher = PLAINTEXT,
) -> AccountState:
    """The backend for ``cfg.state``. With Redis only the elected leader writes runtime changes
    to tokens.json (the others' are in Redis, and the leader mirrors them)."""
    sc = cfg.state
    if sc.backend != "redis" or not sc.redis_url:
        return MemoryState(pool, slots)
    state = RedisState(
        pool,
        slots,
        sc.redis_url,
        prefix=sc.key_prefix,
        timeout=sc.timeout,
        lease_seconds=sc.lease_seconds,
        sync_seconds=sc.sync_seconds,
        on_change=lambda account, fields: writer.record(account.project_id, **fields),
        cipher=cipher,
    )
    writer.gate = state.is_writer
    state.start_soon()
    return state
