"""The one place that picks the live-state backend (``state.backends``)."""

from __future__ import annotations

from pathlib import Path

from ag2api.accounts.pool import AccountPool
from ag2api.accounts.slots import SlotLimiter
from ag2api.accounts.writer import TokenWriter
from ag2api.config.live import read_config
from ag2api.state.backends import make_state
from ag2api.state.memory import MemoryState


async def test_make_state_picks_the_backend(tmp_path: Path) -> None:
    path = tmp_path / "gateway.yaml"
    path.write_text("log_level: INFO\n")
    cfg = read_config(path, environ={})
    writer = TokenWriter(tmp_path / "tokens.json")
    state = make_state(cfg, AccountPool([], 1), SlotLimiter(1, 1), writer)
    assert isinstance(state, MemoryState) and state.snapshot().health.backend == "memory"
    await writer.aclose()
