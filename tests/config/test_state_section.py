"""The ``state`` section of gateway.yaml."""

from __future__ import annotations

from pathlib import Path

import pytest

from ag2api.config.errors import ConfigError
from ag2api.config.live import read_config
from ag2api.config.schema import GatewayConfig


def load(tmp_path: Path, text: str) -> GatewayConfig:
    path = tmp_path / "gateway.yaml"
    path.write_text(text)
    return read_config(path, environ={})


def test_memory_is_the_default(tmp_path: Path) -> None:
    cfg = load(tmp_path, "log_level: INFO\n")
    assert cfg.state.backend == "memory" and cfg.state.redis_url is None


def test_redis_needs_a_url(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"state\.redis_url: is required"):
        load(tmp_path, "state: {backend: redis}\n")
    with pytest.raises(ConfigError, match="must start with redis://"):
        load(tmp_path, "state: {backend: redis, redis_url: 'http://x'}\n")
    with pytest.raises(ConfigError, match=r"state\.backend: must be one of memory, redis"):
        load(tmp_path, "state: {backend: etcd}\n")


def test_redis_settings_are_read(tmp_path: Path) -> None:
    cfg = load(
        tmp_path,
        "state:\n  backend: redis\n  redis_url: 'rediss://:pw@cache:6380/1'\n"
        "  key_prefix: 'gw2:'\n  timeout: 0.2\n  lease_seconds: 30\n  sync_seconds: 0.5\n",
    )
    s = cfg.state
    assert (s.backend, s.redis_url, s.key_prefix) == ("redis", "rediss://:pw@cache:6380/1", "gw2:")
    assert (s.timeout, s.lease_seconds, s.sync_seconds) == (0.2, 30.0, 0.5)
