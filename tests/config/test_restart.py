"""Settings read only at start are marked on the schema; edits to them are reported, not lost."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from ag2api.config.restart import pending_restart, start_only
from ag2api.config.schema import GatewayConfig, ObservabilityConfig, ServerConfig, StateConfig

# Read once at start, by the code that builds them (app.serve, build_services, the watcher, the
# server and the workers): audited against every read of cfg.<setting> in the package.
START_ONLY = [
    "server.host",
    "server.port",
    "server.header_timeout",
    "server.body_timeout",
    "server.idle_timeout",
    "server.max_connections",
    "server.workers",
    "upstream.max_connections",
    "images.concurrency_total",
    "watch.enabled",
    "watch.force_polling",
    "observability.request_log_file",
    "observability.request_log_max_bytes",
    "observability.request_log_backups",
    "observability.usage_db",
    "observability.usage_flush_seconds",
    "state.backend",
    "state.redis_url",
    "state.key_prefix",
    "state.timeout",
    "state.lease_seconds",
    "state.sync_seconds",
    "secrets.key_file",
]


def test_the_schema_marks_exactly_the_start_only_settings() -> None:
    assert [s.name for s in start_only()] == START_ONLY


def test_pending_restart_compares_with_the_start_and_clears_when_edited_back() -> None:
    started = GatewayConfig(path=Path("/srv/gateway.yaml"))
    edited = replace(
        started,
        server=replace(started.server, workers=2, keepalive=3.0),
        state=StateConfig(backend="redis", redis_url="redis://cache"),
        rotation=replace(started.rotation, count=9),
    )
    assert pending_restart(started, edited) == [
        "server.workers",
        "state.backend",
        "state.redis_url",
    ]
    back = replace(edited, server=ServerConfig(keepalive=3.0), state=StateConfig())
    assert pending_restart(started, back) == []


def test_the_usage_store_follows_tokens_file_so_moving_that_needs_a_restart_too() -> None:
    started = GatewayConfig(path=Path("/srv/gateway.yaml"), tokens_file=Path("/srv/a/tokens.json"))
    moved = replace(started, tokens_file=Path("/srv/b/tokens.json"))
    assert pending_restart(started, moved) == ["observability.usage_db"]
    pinned = ObservabilityConfig(usage_db=Path("/srv/a/usage.sqlite3"))
    assert pending_restart(started, replace(moved, observability=pinned)) == []
