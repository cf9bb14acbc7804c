"""The one config exception, naming the file, the line (or variable) and the key."""

from __future__ import annotations


class ConfigError(ValueError):
    """A config problem, naming the file, the line (or variable) and the key."""

    def __init__(self, file: str, where: int | str | None, key: str, reason: str) -> None:
        self.file, self.where, self.key, self.reason = file, where, key, reason
        loc = file if where is None else (f"{file}:{where}" if isinstance(where, int) else where)
        super().__init__(f"{loc}: {key + ': ' if key else ''}{reason}")

    @property
    def line(self) -> int | None:
        return self.where if isinstance(self.where, int) else None
