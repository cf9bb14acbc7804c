"""Shared fixtures, one per concept. Everything runs on loopback: the gateway, the fake upstream,
the real SDKs. Helpers that are not fixtures live in ``tests/support/`` (its docstring lists
them), and nothing imports from a conftest (``tests/test_test_tree.py`` checks);
``tests/state/conftest.py`` adds the state backends' factory, ``tests/state/redis/conftest.py`` a
Redis of a test's own. A test module may set ``accounts_spec``, ``config_overrides`` or ``app``
its own way, and extend any fixture by asking for it under its own name; every other fixture is
defined once (``tests/test_layout.py`` checks).

The gateway and its files:

* ``fake`` — :class:`ag2api.testing.fake_upstream.FakeUpstream` on two ports (hosts "a", "b"), with
  the accounts of ``accounts_spec`` registered; script it with ``fake.script(Step(...))``.
* ``accounts_spec`` — (refresh token, project id) pairs written to tokens.json (override by
  parametrizing it).
* ``config_overrides`` — a dict merged over the base YAML config (override by parametrizing it).
* ``config_doc`` — that config as a dict (edit it and rewrite ``config_path``).
* ``tokens_path`` / ``config_path`` — the files under ``tmp_path``.
* ``services`` — ``build_services`` for that config; closed (tokens flushed) on teardown.
* ``watcher`` — the hot-reload FileWatcher on ``services``, started; ``await
  watcher.wait_for(predicate)`` returns once an applied change makes the predicate true.
* ``app`` — the gateway Application (pytest-tornasync serves it as ``http_server``).
* ``base_url`` — the gateway's root URL, for raw HTTP (``tests.support.http.fetch``).
* ``request_lines`` — the JSON request-log lines written during the test, parsed.

Clients of that gateway (no SDK retries; closed on teardown):

* ``client`` — ``openai.AsyncOpenAI`` with the tests' key, strict response validation on.
* ``claude`` — ``anthropic.AsyncAnthropic`` with the tests' key (x-api-key).
* ``gemini`` — ``google.genai.Client`` with the tests' key (v1beta).
* ``alice`` / ``alice_claude`` — OpenAI's and Anthropic's SDKs with Alice's key (give her a
  policy with ``tests.support.clients.with_alice``).

Time:

* ``clock`` — a :class:`tests.support.clock.FakeClock`: time moves only when code sleeps on it.
* ``gateway_clock`` — that clock in the running gateway: its dispatcher's backoffs, retry budget
  and short rate-limit waits take no real time, and the (memory) state's cooldowns age with it.

Shared services:

* ``redis_server`` — one real redis-server for the session (skipped without the binary);
  ``key_prefix`` — a key prefix of the test's own on it.
* ``backend`` — ``"memory"`` then ``"redis"`` (a test taking it runs on both state backends);
  ``backend_config`` — the config's ``state`` section for it (merge it into ``config_overrides``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import openai
import pytest
import yaml

from ag2api.app import make_app
from ag2api.config.live import read_config
from ag2api.logs.requestlog import LOGGER as REQUEST_LOGGER
from ag2api.server.reload import Reloader
from ag2api.server.watch import FileWatcher
from ag2api.services import Services, build_services
from ag2api.testing.fake_upstream import FakeUpstream
from tests.support.clients import (
    ALICE,
    API_KEY,
    anthropic_sdk,
    close_gemini,
    gemini_sdk,
    openai_sdk,
)
from tests.support.clock import FakeClock
from tests.support.files import DEFAULT_ACCOUNTS, deep_merge, token_entry, write_tokens
from tests.support.redis_server import MISSING, RedisServer, available
from tests.support.replicas import state_config

if TYPE_CHECKING:
    import anthropic
    from google import genai


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
    write_tokens(path, fake.token_url, [token_entry(r, p) for r, p in accounts_spec])
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
    sdk = openai_sdk(base_url, _strict_response_validation=True)
    yield sdk
    io_loop.run_sync(sdk.close)


@pytest.fixture
def claude(io_loop: Any, base_url: str) -> Iterator[anthropic.AsyncAnthropic]:
    sdk = anthropic_sdk(base_url)
    yield sdk
    io_loop.run_sync(sdk.close)


@pytest.fixture
def gemini(io_loop: Any, base_url: str) -> Iterator[genai.Client]:
    sdk = gemini_sdk(base_url)
    yield sdk
    io_loop.run_sync(lambda: close_gemini(sdk))


@pytest.fixture
def alice(io_loop: Any, base_url: str) -> Iterator[openai.AsyncOpenAI]:
    sdk = openai_sdk(base_url, ALICE)
    yield sdk
    io_loop.run_sync(sdk.close)


@pytest.fixture
def alice_claude(io_loop: Any, base_url: str) -> Iterator[anthropic.AsyncAnthropic]:
    sdk = anthropic_sdk(base_url, ALICE)
    yield sdk
    io_loop.run_sync(sdk.close)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def gateway_clock(services: Services, clock: FakeClock) -> FakeClock:
    """``clock`` in the gateway's dispatcher. The memory state reads the wall clock, so its
    cooldowns (epoch deadlines on the accounts) are moved back by each step the clock takes."""

    def age_cooldowns(seconds: float) -> None:
        for account in services.state.accounts():
            for entry in account.cooldowns.values():
                entry["until"] -= seconds

    dispatcher = services.dispatcher
    dispatcher.clock = dispatcher.picker.clock = clock  # retries and backoffs; rate-limit waits
    clock.listeners.append(age_cooldowns)
    return clock


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


@pytest.fixture(params=["memory", "redis"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def backend_config(request: pytest.FixtureRequest, backend: str) -> dict[str, Any]:
    if backend == "memory":
        return {}
    server = request.getfixturevalue("redis_server")
    return state_config(server.url, request.getfixturevalue("key_prefix"))
