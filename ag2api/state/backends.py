"""The one place that chooses the live-state backend ``state.backend`` names."""

from __future__ import annotations

import logging

from ag2api.accounts.crypto import PLAINTEXT, TokenCipher
from ag2api.accounts.pool import AccountPool
from ag2api.accounts.slots import SlotLimiter
from ag2api.accounts.writer import TokenWriter
from ag2api.config.schema import GatewayConfig
from ag2api.state.base import AccountState
from ag2api.state.memory import MemoryState
from ag2api.state.redis.state import RedisState

log = logging.getLogger("ag2api.state")


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
        writer=writer,
        host=sc.host_name,
        tombstone_seconds=sc.tombstone_days * 86400.0,
        config_path=cfg.path,
    )
    if not cipher.enabled:
        log.warning(
            "no key is set (AG2API_SECRET_KEY or secrets.key_file): hosts share their accounts "
            "without the refresh tokens, so an account added or signed in again on one host "
            "stays there; set the same key on every host to share them"
        )
    writer.gate = state.is_writer
    state.start_soon()
    return state
