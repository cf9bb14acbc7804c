"""The one config exception, naming the file, the line (or variable) and the key."""

from __future__ import annotations

import os
from collections.abc import Mapping

# A setting's place in the document: ("server", "host"), ("api_keys", 0).
Keys = tuple[str | int, ...]


class ConfigError(ValueError):
    """A config problem, naming the file, the line (or variable) and the key.

    ``reason`` never repeats the offending value (it may hold a password, as in a proxy URL):
    the file, the line and the key say where it is.
    """

    def __init__(self, file: str, where: int | str | None, key: str, reason: str) -> None:
        self.file, self.where, self.key, self.reason = file, where, key, reason
        super().__init__(self._text(file))

    def _text(self, file: str) -> str:
        where = self.where
        loc = file if where is None else (f"{file}:{where}" if isinstance(where, int) else where)
        return f"{loc}: {self.key + ': ' if self.key else ''}{self.reason}"

    @property
    def line(self) -> int | None:
        return self.where if isinstance(self.where, int) else None

    @property
    def public(self) -> str:
        """As shown to anyone (the unauthenticated /health): no folder names."""
        return self._text(self.file.rsplit(os.sep, 1)[-1])


def dotted(keys: Keys) -> str:
    """``("api_keys", 0, "label")`` → ``api_keys[0].label``."""
    return ".".join(str(k) if isinstance(k, str) else f"[{k}]" for k in keys).replace(".[", "[")


def located(file: str, sources: Mapping[Keys, int | str], keys: Keys, reason: str) -> ConfigError:
    """The error for the setting at ``keys``: on the line it was read from (the nearest
    enclosing key's when it has none of its own), or naming the variable or flag that set it."""
    probe = keys
    while probe and probe not in sources:
        probe = probe[:-1]
    where = sources.get(probe)
    if isinstance(where, str):
        return ConfigError(where, None, dotted(keys), reason)
    return ConfigError(file, where, dotted(keys), reason)
