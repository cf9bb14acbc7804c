"""A proxy per account, with real proxies on loopback that record what went through them:
alpha uses the default (``upstream.proxy``, an HTTP proxy with a password), beta its own SOCKS5
proxy (with a password) and User-Agent, gamma opts out (``"direct"``)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

from ag2api.accounts.proxies import shown_proxy
from ag2api.services import Services
from ag2api.testing.fake_upstream import FakeUpstream
from tests.support.cli import ag2api
from tests.support.clients import ADMIN
from tests.support.clock import FakeClock
from tests.support.helpers import chat_text
from tests.support.http import fetch
from tests.support.proxy_server import HttpProxy, Socks5Proxy

BETA_UA = "antigravity/hub/9.9.9 darwin/arm64 beta-only"


@pytest.fixture
def http_proxy(io_loop: Any) -> Iterator[HttpProxy]:
    proxy = HttpProxy(user="user", password="s3cret-pw")
    io_loop.run_sync(proxy.start)
    yield proxy
    io_loop.run_sync(proxy.stop)


@pytest.fixture
def socks_proxy(io_loop: Any) -> Iterator[Socks5Proxy]:
    proxy = Socks5Proxy(user="sock", password="sock-pw")
    io_loop.run_sync(proxy.start)
    yield proxy
    io_loop.run_sync(proxy.stop)


@pytest.fixture
def config_overrides(http_proxy: HttpProxy) -> dict[str, Any]:
    return {
        "admin_key": ADMIN,
        "upstream": {
            "proxy": f"http://user:s3cret-pw@127.0.0.1:{http_proxy.port}",
            "timeouts": {"connect": 1, "first_byte": 10, "idle": 10},
        },
    }


@pytest.fixture
def tokens_path(tokens_path: Path, socks_proxy: Socks5Proxy) -> Path:
    doc = json.loads(tokens_path.read_text())
    beta, gamma = doc["projects"][1], doc["projects"][2]
    beta["proxy"] = f"socks5h://sock:sock-pw@127.0.0.1:{socks_proxy.port}"
    beta["user_agent"] = BETA_UA
    gamma["proxy"] = "direct"
    tokens_path.write_text(json.dumps(doc))
    return tokens_path


async def admin_accounts(base_url: str) -> str:
    answer = await fetch(base_url + "/admin/accounts", key=ADMIN)
    assert answer.code == 200, answer.code
    return answer.body.decode()


async def test_each_account_goes_out_its_own_way(
    client: openai.AsyncOpenAI,
    fake: FakeUpstream,
    services: Services,
    http_proxy: HttpProxy,
    socks_proxy: Socks5Proxy,
    base_url: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    services.pool.rotation_count = 1
    for _ in range(3):
        assert (await chat_text(client)).endswith("You said: hi")
    await services.fetch_account_models("proj-alpha-0001")  # a quota check

    # alpha: its token refresh, its generation and its quota check, through the default proxy.
    assert http_proxy.saw("refresh_token=rt-one") and http_proxy.saw("proj-alpha-0001")
    assert http_proxy.saw("fetchAvailableModels")
    assert {p.proxy_auth for p in http_proxy.passed} == {"user:s3cret-pw"}
    # beta: the same, through its own SOCKS5 proxy, with its own User-Agent.
    assert socks_proxy.saw("refresh_token=rt-two") and socks_proxy.saw("proj-beta-0002")
    assert {p.proxy_auth for p in socks_proxy.passed} == {"sock:sock-pw"}
    beta_calls = [r for r in fake.generate_requests() if r.body["project"] == "proj-beta-0002"]
    assert beta_calls and beta_calls[0].headers["User-Agent"] == BETA_UA
    others = [r for r in fake.generate_requests() if r.body["project"] != "proj-beta-0002"]
    assert all(r.headers["User-Agent"] != BETA_UA for r in others)
    # Nobody else's traffic in either proxy; gamma went direct.
    for secret in ("rt-two", "rt-three", "proj-beta-0002", "proj-gamma-0003"):
        assert not http_proxy.saw(secret)
    for secret in ("rt-one", "rt-three", "proj-alpha-0001", "proj-gamma-0003"):
        assert not socks_proxy.saw(secret)
    assert any(r.body["project"] == "proj-gamma-0003" for r in fake.generate_requests())

    # Each account's way out, masked, and where it is set: alpha's is the default.
    shown = await admin_accounts(base_url)
    console = (await fetch(base_url + "/admin/api/accounts", key=ADMIN)).body.decode()
    for text in (shown, console):
        ways = [(a["proxy"], a["proxy_source"]) for a in json.loads(text)["accounts"]]
        assert ways == [
            (f"http://***@127.0.0.1:{http_proxy.port}", "upstream.proxy"),
            (f"socks5h://***@127.0.0.1:{socks_proxy.port}", "account"),
            ("direct", "account"),
        ]
        assert "pw" not in text
    assert all("pw" not in r.getMessage() for r in caplog.records)


async def test_ag2api_accounts_shows_each_accounts_way_out(
    config_path: Path, http_proxy: HttpProxy, socks_proxy: Socks5Proxy
) -> None:
    code, out = await ag2api("accounts", "--config", str(config_path))
    assert code == 0, out
    alpha, beta, gamma = out.splitlines()[1:4]
    assert f"http://***@127.0.0.1:{http_proxy.port} (upstream.proxy)" in alpha
    assert f"socks5h://***@127.0.0.1:{socks_proxy.port} " in beta and "upstream" not in beta
    assert " direct " in gamma and "pw" not in out


async def test_a_proxy_that_refuses_takes_only_its_account_out_until_it_works_again(
    client: openai.AsyncOpenAI,
    fake: FakeUpstream,
    services: Services,
    http_proxy: HttpProxy,
    base_url: str,
) -> None:
    port = http_proxy.port
    await http_proxy.stop()
    services.pool.rotation_count = 1
    for _ in range(3):  # alpha's turn fails over; every request is answered
        assert (await chat_text(client)).endswith("You said: hi")
    alpha = services.pool.accounts[0]
    assert not alpha.enabled and alpha.disabled_reason is not None
    assert alpha.disabled_reason.startswith(f"PROXY_UNREACHABLE: proxy http://***@127.0.0.1:{port}")
    assert services.pool.accounts[1].enabled and services.pool.accounts[2].enabled
    assert not any(r.body["project"] == "proj-alpha-0001" for r in fake.generate_requests())
    shown = json.loads(await admin_accounts(base_url))["accounts"][0]
    assert shown["state"] == "disabled" and "PROXY_UNREACHABLE" in shown["disabled_reason"]
    assert "s3cret" not in json.dumps(shown)

    clock = FakeClock()
    services.recheck.clock = clock.monotonic
    await services.recheck.run_once()
    clock.advance(59)
    assert await services.recheck.run_once() == 0  # a minute for a proxy fault
    await http_proxy.start(port)
    clock.advance(1)
    assert await services.recheck.run_once() == 1
    assert alpha.enabled and http_proxy.saw("loadCodeAssist")


async def test_a_proxy_that_times_out_is_the_accounts_fault_too(
    client: openai.AsyncOpenAI, services: Services, socks_proxy: Socks5Proxy
) -> None:
    socks_proxy.silent = True  # accepts, never answers the SOCKS greeting
    services.pool.rotation_count = 1
    for _ in range(3):
        assert (await chat_text(client)).endswith("You said: hi")
    beta = services.pool.accounts[1]
    assert not beta.enabled and (beta.disabled_reason or "").startswith("PROXY_UNREACHABLE")
    assert "sock-pw" not in (beta.disabled_reason or "")


def test_with_no_proxy_set_the_environments_is_shown_as_libcurl_takes_it() -> None:
    """libcurl follows the proxy variables when nothing is set: the views say so (masked)."""
    env = {"HTTPS_PROXY": "http://me:pw@corp-proxy:3128"}
    assert shown_proxy(None, None, env) == ("http://***@corp-proxy:3128", "environment")
    assert shown_proxy(None, None, {}) == ("direct", "none")
    assert shown_proxy("direct", None, env) == ("direct", "account")  # "" switches it off
    assert shown_proxy(None, "socks5://d:1080", env) == ("socks5://d:1080", "upstream.proxy")
