"""Image URLs parsed once, strictly, into the parts libcurl is then given.

The gateway checks a URL's host and then hands a URL to libcurl. If the two parsers could read it
differently (``http://good@evil/``, a backslash, whitespace, a percent-encoded or ``127.1``-style
host) the check would vouch for one host while libcurl connects to another. So anything two
reasonable parsers might read differently is refused, and libcurl gets a URL rebuilt from the
checked parts. Every refusal is a ``ValueError`` whose text says why (the caller names the field).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address
from urllib.parse import quote

from ag2api.media.addresses import IP

MAX_URL_CHARS = 8192
DEFAULT_PORTS = {"http": 80, "https": 443}
_SCHEME = re.compile(r"^(https?)://", re.IGNORECASE)
_LABEL = re.compile(r"^[a-z0-9_-]+$")
_NUMERIC_LABEL = re.compile(r"^(?:[0-9]+|0x[0-9a-f]*)$")
# Printable ASCII stays as it is in the path and query; anything else is percent-encoded (UTF-8).
_PATH_SAFE = "".join(chr(c) for c in range(0x21, 0x7F) if chr(c) not in "\\")


@dataclass(frozen=True)
class ImageUrl:
    scheme: str  # "http" or "https"
    host: str  # lower-case ASCII name, or the IP address (IPv6 without brackets)
    port: int
    target: str  # path and query, ASCII, starting with "/"
    literal: IP | None  # the address when the host is an IP literal

    @property
    def url(self) -> str:
        """The URL libcurl fetches: rebuilt from the checked parts, no fragment."""
        netloc = f"[{self.host}]" if isinstance(self.literal, IPv6Address) else self.host
        if self.port != DEFAULT_PORTS[self.scheme]:
            netloc += f":{self.port}"
        return f"{self.scheme}://{netloc}{self.target}"


def parse_image_url(url: str) -> ImageUrl:
    """Split and check an http(s) URL; ``ValueError`` says why it is refused."""
    if len(url) > MAX_URL_CHARS:
        raise ValueError(f"the URL is longer than {MAX_URL_CHARS} characters")
    for ch in url:
        if ch == "\\" or ch.isspace() or unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp"):
            raise ValueError(
                f"the URL contains {ch!r}: whitespace, control characters and backslashes "
                "are not allowed"
            )
    match = _SCHEME.match(url)
    if match is None:
        raise ValueError("only http:// and https:// image URLs can be fetched")
    scheme = match.group(1).lower()
    rest = url[match.end() :]
    end = min((i for i in (rest.find(c) for c in "/?#") if i >= 0), default=len(rest))
    authority, tail = rest[:end], rest[end:]
    host, literal, port = _authority(authority, DEFAULT_PORTS[scheme])
    target = tail.split("#", 1)[0]
    if not target.startswith("/"):
        target = "/" + target
    return ImageUrl(scheme, host, port, quote(target, safe=_PATH_SAFE), literal)


def _authority(authority: str, default_port: int) -> tuple[str, IP | None, int]:
    if "@" in authority:
        raise ValueError("user names and passwords (user@host) are not allowed in image URLs")
    if "%" in authority:
        raise ValueError("percent-encoded host names are not allowed")
    if authority.startswith("["):
        close = authority.find("]")
        if close < 0:
            raise ValueError("the IPv6 address has no closing ']'")
        inside, after = authority[1:close], authority[close + 1 :]
        try:
            literal: IP | None = IPv6Address(inside)
        except ValueError as exc:
            raise ValueError(f"[{inside}] is not a valid IPv6 address") from exc
        if after and not after.startswith(":"):
            raise ValueError("unexpected characters after the IPv6 address")
        return str(literal), literal, _port(after[1:] if after else "", default_port)
    if "[" in authority or "]" in authority:
        raise ValueError("misplaced '[' or ']' in the host")
    name, colon, port_text = authority.partition(":")
    if ":" in port_text:
        raise ValueError("IPv6 addresses must be written in brackets, like http://[::1]/")
    port = _port(port_text, default_port) if colon else default_port
    host = _host_name(name)
    literal = IPv4Address(host) if _NUMERIC_LABEL.match(host.rsplit(".", 1)[-1]) else None
    return host, literal, port


def _port(text: str, default: int) -> int:
    if not text:
        return default
    if not text.isascii() or not text.isdigit() or len(text) > 5 or not 1 <= int(text) <= 65535:
        raise ValueError(f"the port {text[:20]!r} is not a number from 1 to 65535")
    return int(text)


def _host_name(name: str) -> str:
    if not name:
        raise ValueError("the URL has no host")
    if not name.isascii():
        try:
            name = name.encode("idna").decode("ascii")
        except UnicodeError as exc:
            raise ValueError(f"the host name {name[:80]!r} is not a valid IDNA name") from exc
    # libcurl drops a trailing dot before it looks up its pinned addresses; do the same.
    name = name.lower().removesuffix(".")
    labels = name.split(".")
    if len(name) > 253:
        raise ValueError("the host name is longer than 253 characters")
    for label in labels:
        if not label:
            raise ValueError(f"the host name {name!r} has an empty label")
        if len(label) > 63:
            raise ValueError(f"the host name has a label longer than 63 characters ({label[:20]}…)")
        if not _LABEL.match(label):
            raise ValueError(f"the host name {name[:80]!r} has characters a host name cannot have")
    if _NUMERIC_LABEL.match(labels[-1]):
        # 127.1, 0x7f.1, 2130706433 and 0177.0.0.1 all mean 127.0.0.1 to some parsers only.
        try:
            canonical = str(IPv4Address(name))
        except ValueError:
            canonical = ""
        if canonical != name:
            raise ValueError(f"{name!r} is not an IPv4 address in the dotted a.b.c.d form")
    return name
