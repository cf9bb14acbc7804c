"""The address a request came from, seen through reverse proxies the operator trusts.

``X-Forwarded-For`` is believed only when the connection itself comes from a trusted proxy, and
then read from the right: each proxy appends the address it saw, so the right-most entry that is
not itself a trusted proxy is the client (entries further left were written by that client and
prove nothing). Pure: addresses in, an address out.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _trusted(address: str, proxies: Sequence[Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped  # ::ffff:10.0.0.1 on a dual-stack socket
    return any(ip in net for net in proxies if net.version == ip.version)


def client_address(
    peer: str | None, forwarded_for: Iterable[str], proxies: Sequence[Network]
) -> str:
    """``peer`` (the connection's address), or the client a trusted proxy chain forwarded."""
    address = peer or "-"
    if not proxies or not _trusted(address, proxies):
        return address
    hops = [_host(hop) for header in forwarded_for for hop in header.split(",")]
    for hop in reversed(hops):
        if not hop:
            continue
        try:
            ipaddress.ip_address(hop)
        except ValueError:
            return address  # not an address (a spoofed or broken header): the proxy it is
        if not _trusted(hop, proxies):
            return hop
        address = hop
    return address


def _host(hop: str) -> str:
    """The address of one entry; some proxies add the port ("203.0.113.5:4711",
    "[2001:db8::1]:4711")."""
    hop = hop.strip()
    if hop.startswith("["):
        return hop[1 : hop.find("]")] if "]" in hop else hop
    if hop.count(":") == 1:
        return hop.partition(":")[0]
    return hop
