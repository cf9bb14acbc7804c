"""The admin key throttle behind a reverse proxy (``server.trusted_proxies``): on connections
from a trusted proxy the client is read from X-Forwarded-For, right to left; from anyone else the
header is ignored, so it cannot be used to dodge the throttle."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any

import pytest

from ag2api.admin.client_address import client_address
from ag2api.config.load import ConfigError, parse_config
from tests.support.clients import ADMIN
from tests.support.http import fetch

THROTTLE = {"admin_key": ADMIN, "admin": {"login_max_failures": 2, "login_window": 60}}
UNTRUSTED_PEER = "127.0.0.2"  # still loopback: another connection address


async def guess(base_url: str, forwarded: str | None = None, source: str | None = None) -> int:
    headers = {"Authorization": "Bearer wrong-guess"}
    if forwarded is not None:
        headers["X-Forwarded-For"] = forwarded
    return (await fetch(base_url + "/admin/usage", headers=headers, network_interface=source)).code


@pytest.mark.parametrize(
    "config_overrides",
    [{**THROTTLE, "server": {"trusted_proxies": ["127.0.0.1/32", "10.0.0.0/8"]}}],
)
async def test_clients_behind_a_trusted_proxy_are_throttled_one_by_one(
    base_url: str, config_overrides: dict[str, Any]
) -> None:
    assert [await guess(base_url, "203.0.113.5") for _ in range(3)] == [401, 401, 429]
    # Another client behind the same proxy is unaffected, also through a second proxy (10.x).
    assert await guess(base_url, "198.51.100.7") == 401
    assert await guess(base_url, "198.51.100.8, 10.1.2.3") == 401
    # A client cannot hide behind an address it writes itself: the proxy appends the real one.
    assert await guess(base_url, "198.51.100.9, 203.0.113.5") == 429
    # From a connection that is not a trusted proxy the header means nothing.
    codes = [await guess(base_url, f"192.0.2.{i}", source=UNTRUSTED_PEER) for i in range(3)]
    assert codes == [401, 401, 429]


@pytest.mark.parametrize("config_overrides", [THROTTLE])
async def test_without_trusted_proxies_the_header_is_ignored(
    base_url: str, config_overrides: dict[str, Any]
) -> None:
    codes = [await guess(base_url, f"192.0.2.{i}") for i in range(3)]
    assert codes == [401, 401, 429]


PROXIES = (ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("fd00::/8"))


@pytest.mark.parametrize(
    ("peer", "forwarded", "expected"),
    [
        ("10.0.0.1", ["203.0.113.5"], "203.0.113.5"),
        ("10.0.0.1", ["1.1.1.1, 203.0.113.5, 10.9.9.9"], "203.0.113.5"),
        ("10.0.0.1", ["1.1.1.1", "203.0.113.5"], "203.0.113.5"),  # repeated headers, in order
        ("::ffff:10.0.0.1", ["2001:db8::7"], "2001:db8::7"),  # dual-stack socket
        ("fd00::1", ["10.2.3.4"], "10.2.3.4"),
        ("10.0.0.1", ["not-an-ip"], "10.0.0.1"),
        ("10.0.0.1", ["203.0.113.5:4711"], "203.0.113.5"),  # with the client's port
        ("10.0.0.1", ["[2001:db8::7]:4711"], "2001:db8::7"),
        ("10.0.0.1", ["[2001:db8::8]"], "2001:db8::8"),
        ("10.0.0.1", [], "10.0.0.1"),
        ("10.0.0.1", ["10.1.1.1, 10.2.2.2"], "10.1.1.1"),  # all proxies: the first of them
        ("203.0.113.9", ["198.51.100.1"], "203.0.113.9"),  # not a proxy: header ignored
        (None, ["198.51.100.1"], "-"),
    ],
)
def test_client_address(peer: str | None, forwarded: list[str], expected: str) -> None:
    assert client_address(peer, forwarded, PROXIES) == expected
    assert client_address(peer, forwarded, ()) == (peer or "-")


def test_trusted_proxies_are_validated() -> None:
    cfg = parse_config("server: {trusted_proxies: [10.0.0.0/8, '::1']}", path=Path("g.yaml"))
    assert [str(n) for n in cfg.server.trusted_proxies] == ["10.0.0.0/8", "::1/128"]
    with pytest.raises(ConfigError) as info:
        parse_config("server: {trusted_proxies: [nope]}", path=Path("g.yaml"))
    assert "server.trusted_proxies: item 1 is not an IP address" in str(info.value)
    with pytest.raises(ConfigError):
        parse_config("server: {trusted_proxies: 10.0.0.0/8}", path=Path("g.yaml"))
    for wrong in ("10.0.0.1/8", "0.0.0.0/0", "::/0"):
        with pytest.raises(ConfigError) as info:
            parse_config(f"server: {{trusted_proxies: ['{wrong}']}}", path=Path("g.yaml"))
        assert "server.trusted_proxies" in str(info.value)
