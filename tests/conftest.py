"""Shared fixtures. Everything runs on loopback: the gateway, the fake upstream, the OpenAI SDK.

* ``fake`` — :class:`ag2api.testing.fake_upstream.FakeUpstream` on two ports (hosts "a", "b"), with
  the accounts of ``accounts_spec`` registered; script it with ``fake.script(Step(...))``.
* ``accounts_spec`` — (refresh token, project id) pairs written to tokens.json (override by
  parametrizing it).
* ``config_overrides`` — a dict merged over the base YAML config (override by parametrizing it).
* ``config_doc`` — that config as a dict (edit it and rewrite ``config_path``).
* ``tokens_path`` / ``config_path`` — the files under ``tmp_path``.
* ``watcher`` — the hot-reload FileWatcher on ``services``, started; ``await
  watcher.wait_for(predicate)`` returns once an applied change makes the predicate true.
* ``services`` — ``build_services`` for that config; closed (tokens flushed) on teardown.
* ``app`` — the gateway Application (pytest-tornasync serves it as ``http_server``).
* ``client`` — ``openai.AsyncOpenAI`` against the gateway, strict validation on, no SDK retries.
* ``base_url`` — the gateway's root URL, for raw HTTP checks.
* ``request_lines`` — the JSON request-log lines written during the test, parsed.
* ``redis_server`` — one real redis-server for the session (skipped without the binary);
  ``key_prefix`` — a key prefix of the test's own on it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest
import yaml

from ag2api.app import make_app
from ag2api.config.live import read_config
from ag2api.logs.requestlog import LOGGER as REQUEST_LOGGER
from ag2api.server.reload import Reloader
from ag2api.server.watch import FileWatcher
from ag2api.services import Services, build_services
from ag2api.testing.fake_google import FAKE_CLIENT_ID, FAKE_CLIENT_SECRET
from ag2api.testing.fake_upstream import FakeUpstream
from tests.support.redis_server import MISSING, RedisServer, available

API_KEY = "sk-test-0123456789abcdef"
DEFAULT_ACCOUNTS = (
    ("rt-one", "proj-alpha-0001"),
    ("rt-two", "proj-beta-0002"),
    ("rt-three", "proj-gamma-0003"),
)


def deep_merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def write_tokens(path: Path, token_url: str, accounts: list[dict[str, Any]]) -> None:
    doc = {
        "oauth_config": {
            "client_id": FAKE_CLIENT_ID,
            "client_secret": FAKE_CLIENT_SECRET,
            "token_url": token_url,
        },
        "projects": accounts,
    }
    path.write_text(json.dumps(doc, indent=2))


@pytest.fixture
def accounts_spec() -> tuple[tuple[str, str], ...]:
    return DEFAULT_ACCOUNTS


@pytest.fixture
def config_overrides() -> dict[str, Any]:
    return {}


@pytest.fixture
def fake(io_loop: Any, accounts_spec: tuple[tuple[str, str], ...]) -> Iterator[FakeUpstream]:
    upstream = FakeUpstream()
    io_loop.run_sync(lambda: upstream.start(hosts=2))
    for refresh, project in accounts_spec:
        upstream.add_account(refresh, project)
    yield upstream
    io_loop.run_sync(upstream.stop)


@pytest.fixture
def tokens_path(
    tmp_path: Path, fake: FakeUpstream, accounts_spec: tuple[tuple[str, str], ...]
) -> Path:
    path = tmp_path / "data" / "tokens.json"
    path.parent.mkdir()
    write_tokens(
        path,
        fake.token_url,
        [
            {
                "project_id": project,
                "refresh_token": refresh,
                "access_token": None,
                "expires_at": 0,
                "enabled": True,
                "disabled_reason": None,
            }
            for refresh, project in accounts_spec
        ],
    )
    return path


@pytest.fixture
def config_doc(fake: FakeUpstream, config_overrides: dict[str, Any]) -> dict[str, Any]:
    """The YAML config as a dict; tests that edit the file start from it."""
    base = {
        "api_keys": [{"key": API_KEY, "label": "tests"}],
        "tokens_file": "data/tokens.json",
        "upstream": {
            "base_urls": [fake.urls[0]],
            "timeouts": {"connect": 5, "first_byte": 10, "idle": 10},
        },
        "models": {"cache_ttl": 600},
    }
    return deep_merge(base, config_overrides)


@pytest.fixture
def config_path(tmp_path: Path, tokens_path: Path, config_doc: dict[str, Any]) -> Path:
    path = tmp_path / "gateway.yaml"
    path.write_text(yaml.safe_dump(config_doc))
    return path


@pytest.fixture
def services(io_loop: Any, config_path: Path) -> Iterator[Services]:
    cfg = read_config(config_path, environ={})

    async def build() -> Services:
        return build_services(cfg)

    built = io_loop.run_sync(build)
    yield built
    io_loop.run_sync(built.aclose)


@pytest.fixture
def watcher(io_loop: Any, services: Services) -> Iterator[FileWatcher]:
    """The hot-reload watcher on ``services``, started and in place."""
    running = FileWatcher(services.config, Reloader(services))

    async def start() -> None:
        running.start()
        await asyncio.wait_for(running.ready.wait(), 10)

    io_loop.run_sync(start)
    yield running
    io_loop.run_sync(running.stop)


@pytest.fixture
def request_lines() -> Iterator[list[dict[str, Any]]]:
    """The JSON request-log lines written during the test, parsed."""
    lines: list[dict[str, Any]] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(json.loads(record.getMessage()))

    handler = Collect()
    logger = logging.getLogger(REQUEST_LOGGER)
    logger.addHandler(handler)
    yield lines
    logger.removeHandler(handler)


@pytest.fixture
def app(services: Services) -> Any:
    return make_app(services)


@pytest.fixture
def base_url(http_server_client: Any) -> str:
    return str(http_server_client.get_url("")).rstrip("/")


@pytest.fixture
def client(io_loop: Any, base_url: str) -> Iterator[openai.AsyncOpenAI]:
    sdk = openai.AsyncOpenAI(
        base_url=base_url + "/v1", api_key=API_KEY, max_retries=0, _strict_response_validation=True
    )
    yield sdk
    io_loop.run_sync(sdk.close)


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """One private redis-server for the session (tests keep apart by key prefix)."""
    if not available():
        pytest.skip(MISSING)
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def key_prefix() -> str:
    return f"ag:test:{uuid.uuid4().hex[:8]}:"
