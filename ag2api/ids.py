"""Random identifiers for requests, answers and tool calls.

``uuid.uuid4()`` builds a UUID object (an int, validation, formatting) for every id; a request
made several of them. ``os.urandom(...).hex()`` gives the same 122+ random bits for a fraction of
the cost (docs/performance.md).
"""

from __future__ import annotations

import os


def random_hex(chars: int = 32) -> str:
    """``chars`` lowercase hex digits (an even number) of fresh randomness."""
    return os.urandom(chars // 2).hex()


def uuid4_text() -> str:
    """A random (version 4, RFC 4122 variant) UUID in its canonical text form."""
    h = os.urandom(16).hex()
    variant = "89ab"[int(h[16], 16) & 3]
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{variant}{h[17:20]}-{h[20:]}"
