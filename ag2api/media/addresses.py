"""Which addresses an image may be fetched from (the SSRF guard), and how to pin them.

Python's ``is_global`` alone is not enough: it calls ``64:ff9b::7f00:1`` (NAT64 for 127.0.0.1),
``2002:7f00:1::`` (6to4 for 127.0.0.1) and ``::127.0.0.1`` global. An IPv6 address that carries an
IPv4 address (mapped, NAT64, 6to4, Teredo) is judged by that IPv4 address instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from ipaddress import IPv4Address, IPv6Address, IPv6Network

IP = IPv4Address | IPv6Address

NAT64 = IPv6Network("64:ff9b::/96")  # RFC 6052 well-known prefix: IPv4 in the low 32 bits
NAT64_LOCAL = IPv6Network("64:ff9b:1::/48")  # RFC 8215 local use: where the IPv4 sits varies
IPV4_COMPATIBLE = IPv6Network("::/96")  # deprecated; holds :: and ::1 too


def embedded_ipv4(ip: IPv6Address) -> tuple[IPv4Address, ...]:
    """The IPv4 address(es) an IPv6 address stands for, if it is one of the tunnel forms."""
    if ip.ipv4_mapped is not None:
        return (ip.ipv4_mapped,)
    if ip in NAT64:
        return (IPv4Address(int(ip) & 0xFFFFFFFF),)
    if ip.sixtofour is not None:
        return (ip.sixtofour,)
    if ip.teredo is not None:
        return ip.teredo  # (server, client); the client address is de-obfuscated
    return ()


def is_public(ip: IP) -> bool:
    """True for a unicast address on the public internet."""
    if isinstance(ip, IPv6Address):
        inner = embedded_ipv4(ip)
        if inner:
            return all(is_public(v4) for v4 in inner)
        if ip in IPV4_COMPATIBLE or ip in NAT64_LOCAL or ip.is_site_local:
            return False
    return ip.is_global and not (ip.is_multicast or ip.is_reserved or ip.is_unspecified)


def resolve_entry(host: str, port: int, addresses: Sequence[IP]) -> str:
    """A ``CURLOPT_RESOLVE`` entry ``HOST:PORT:ADDR[,ADDR...]`` (IPv6 addresses in brackets), so
    libcurl connects to the addresses that were checked instead of asking DNS again. ``host`` is a
    name: an IP-literal URL needs no entry (libcurl does not resolve it)."""
    listed = ",".join(f"[{a}]" if a.version == 6 else str(a) for a in addresses)
    return f"{host}:{port}:{listed}"
