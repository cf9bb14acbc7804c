"""Image URLs: what the strict parser refuses or rebuilds, the address guard, the pin entry."""

from __future__ import annotations

from ipaddress import ip_address

import pytest

from ag2api.media.addresses import embedded_ipv4, is_public, resolve_entry
from ag2api.media.urls import parse_image_url


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://example.com:99999/a.png", "not a number from 1 to 65535"),
        ("http://example.com:0/a.png", "not a number from 1 to 65535"),
        ("http://example.com:8o/a.png", "not a number from 1 to 65535"),
        ("http://[::1/a.png", "no closing ']'"),
        ("http://[::1", "no closing ']'"),
        ("http://::1]/a.png", "misplaced '[' or ']'"),
        ("http://[::1]x/a.png", "unexpected characters after the IPv6 address"),
        ("http://[fe80::1%25eth0]/a.png", "percent-encoded"),
        ("http://[not-v6]/a.png", "not a valid IPv6 address"),
        ("http://::1/a.png", "IPv6 addresses must be written in brackets"),
        ("http://" + "a" * 64 + ".example.com/a.png", "label longer than 63"),
        ("http://" + ("a" * 60 + ".") * 5 + "com/", "longer than 253"),
        ("http://a..b/x.png", "empty label"),
        ("http://exa_mple!.com/", "characters a host name cannot have"),
        ("http://\u00e9" + "\u00e9" * 70 + ".com/", "not a valid IDNA name"),
        ("http://user@example.com/a.png", "user@host"),
        ("http://user:pw@example.com/a.png", "user@host"),
        ("http://good.example@127.0.0.1/a.png", "user@host"),
        ("http://127.0.0.1\\@good.example/a.png", "backslash"),
        ("http://good.example\\.evil.example/", "backslash"),
        ("http://example.com/a b.png", "whitespace"),
        ("http://example.com/a\tb.png", "whitespace"),
        ("http://exam\nple.com/", "whitespace"),
        (" http://example.com/", "whitespace"),
        ("http://example.com/\u200b.png", "control"),  # zero-width space (category Cf)
        ("http://example.com/\x00.png", "control"),
        ("http://%65xample.com/", "percent-encoded"),
        ("http://127.1/a.png", "dotted a.b.c.d"),
        ("http://0x7f.0.0.1/a.png", "dotted a.b.c.d"),
        ("http://2130706433/a.png", "dotted a.b.c.d"),
        ("http://0177.0.0.1/a.png", "dotted a.b.c.d"),
        ("http://127.000.0.1/a.png", "dotted a.b.c.d"),
        ("ftp://example.com/a.png", "only http:// and https://"),
        ("file:///etc/passwd", "only http:// and https://"),
        ("http:/example.com/a.png", "only http:// and https://"),
        ("http:///a.png", "no host"),
        ("http://:80/a.png", "no host"),
        ("http://example.com/" + "a" * 9000, "longer than 8192"),
    ],
)
def test_refused_url_forms(url: str, reason: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_image_url(url)
    assert reason in str(info.value)


@pytest.mark.parametrize(
    ("url", "rebuilt", "host", "port", "literal"),
    [
        (
            "http://Example.COM/a.png?x=1#frag",
            "http://example.com/a.png?x=1",
            "example.com",
            80,
            None,
        ),
        ("https://example.com:443/a.png", "https://example.com/a.png", "example.com", 443, None),
        ("https://example.com./a", "https://example.com/a", "example.com", 443, None),
        ("http://example.com:8080", "http://example.com:8080/", "example.com", 8080, None),
        ("http://example.com?q", "http://example.com/?q", "example.com", 80, None),
        ("HTTP://example.com/", "http://example.com/", "example.com", 80, None),
        ("http://1.2.3.4:81/i.png", "http://1.2.3.4:81/i.png", "1.2.3.4", 81, "1.2.3.4"),
        ("http://[::1]:8080/i.png", "http://[::1]:8080/i.png", "::1", 8080, "::1"),
        ("http://[0:0::1]/i", "http://[::1]/i", "::1", 80, "::1"),
        ("http://[2001:DB8::1]/", "http://[2001:db8::1]/", "2001:db8::1", 80, "2001:db8::1"),
        (
            "http://bücher.de/ä.png",
            "http://xn--bcher-kva.de/%C3%A4.png",
            "xn--bcher-kva.de",
            80,
            None,
        ),
        ("http://example.com/a@b/c", "http://example.com/a@b/c", "example.com", 80, None),
        ("http://example.com/x#@evil.com", "http://example.com/x", "example.com", 80, None),
        ("http://example.com?@evil.com", "http://example.com/?@evil.com", "example.com", 80, None),
    ],
)
def test_accepted_urls_are_rebuilt_from_the_checked_parts(
    url: str, rebuilt: str, host: str, port: int, literal: str | None
) -> None:
    parsed = parse_image_url(url)
    assert (parsed.url, parsed.host, parsed.port) == (rebuilt, host, port)
    assert parsed.literal == (ip_address(literal) if literal else None)


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("8.8.8.8", True),
        ("127.0.0.1", False),
        ("10.1.2.3", False),
        ("169.254.169.254", False),
        ("100.64.0.1", False),
        ("0.0.0.0", False),
        ("224.0.0.1", False),
        ("255.255.255.255", False),
        ("2001:4860:4860::8888", True),
        ("::1", False),
        ("::", False),
        ("fe80::1", False),
        ("fc00::1", False),
        ("fec0::1", False),  # site-local, which Python calls global
        ("ff02::1", False),
        ("::ffff:127.0.0.1", False),  # IPv4-mapped
        ("::ffff:8.8.8.8", True),
        ("::127.0.0.1", False),  # IPv4-compatible (deprecated); Python calls it global
        ("::8.8.8.8", False),
        ("64:ff9b::7f00:1", False),  # NAT64 of 127.0.0.1; Python calls it global
        ("64:ff9b::a9fe:a9fe", False),  # NAT64 of 169.254.169.254
        ("64:ff9b::808:808", True),  # NAT64 of 8.8.8.8
        ("64:ff9b:1::a00:1", False),  # local-use NAT64
        ("2002:7f00:1::", False),  # 6to4 of 127.0.0.1; Python calls it global
        ("2002:a00:1::1", False),  # 6to4 of 10.0.0.1
        ("2002:808:808::1", True),
        ("2001:0:808:808::80ff:fefe", False),  # Teredo, client 127.0.1.1
        ("2001:0:a00:1::f7f7:f7f7", False),  # Teredo, server 10.0.0.1
        ("2001:0:808:808::f7f7:f7f7", True),  # Teredo, server and client 8.8.8.8
    ],
)
def test_address_guard(address: str, public: bool) -> None:
    assert is_public(ip_address(address)) is public


def test_embedded_ipv4_forms() -> None:
    assert [str(a) for a in embedded_ipv4(ip_address("64:ff9b::7f00:1"))] == ["127.0.0.1"]  # type: ignore[arg-type]
    assert [str(a) for a in embedded_ipv4(ip_address("2002:7f00:1::"))] == ["127.0.0.1"]  # type: ignore[arg-type]
    assert [str(a) for a in embedded_ipv4(ip_address("::ffff:10.0.0.1"))] == ["10.0.0.1"]  # type: ignore[arg-type]
    assert embedded_ipv4(ip_address("2001:4860::1")) == ()  # type: ignore[arg-type]


def test_resolve_entry_brackets_ipv6_addresses() -> None:
    entry = resolve_entry("img.example", 8443, [ip_address("2001:db8::1"), ip_address("192.0.2.1")])
    assert entry == "img.example:8443:[2001:db8::1],192.0.2.1"
