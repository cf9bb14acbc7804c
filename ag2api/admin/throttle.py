"""Throttling of admin key guesses per client address (login form and Bearer alike).

After ``limit`` failures within ``window`` seconds an address is refused (429) without its key
being checked, until its oldest failure leaves the window: at most ``limit`` guesses per window.
IPv6 clients are counted per /64, the block one host usually holds. Memory is bounded: past
``MAX_ADDRESSES`` the address that failed least recently is forgotten.
"""

from __future__ import annotations

import ipaddress
import time
from collections import OrderedDict, deque
from collections.abc import Callable

MAX_ADDRESSES = 10_000


class LoginThrottle:
    def __init__(
        self, clock: Callable[[], float] = time.monotonic, max_addresses: int = MAX_ADDRESSES
    ) -> None:
        self.clock = clock
        self._max = max_addresses
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()

    def wait(self, address: str, limit: int, window: float) -> float | None:
        """Seconds until ``address`` may try a key again; None when it may now."""
        key = _client(address)
        times = self._failures.get(key)
        if times is None:
            return None
        now = self.clock()
        while times and times[0] <= now - window:
            times.popleft()
        if not times:
            del self._failures[key]
            return None
        return times[0] + window - now if len(times) >= limit else None

    def failed(self, address: str, limit: int) -> None:
        key = _client(address)
        times = self._failures.pop(key, None)
        if times is None or times.maxlen != limit:
            times = deque(times or (), maxlen=limit)
        times.append(self.clock())
        self._failures[key] = times  # now the most recent
        while len(self._failures) > self._max:
            self._failures.popitem(last=False)

    def succeeded(self, address: str) -> None:
        self._failures.pop(_client(address), None)


def _client(address: str) -> str:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((int(ip) >> 64 << 64, 64)))
    return str(ip)
