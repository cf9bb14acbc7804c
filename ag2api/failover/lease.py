"""An account and one of its concurrency slots, held for one upstream call."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ag2api.accounts.model import Account


@dataclass
class Lease:
    """An account and one of its concurrency slots, held for one upstream call."""

    account: Account
    model: str
    probe: bool
    _done: Callable[[Lease, bool], None]
    released: bool = False
    grant: Any = None  # the AccountState's Grant behind this lease (its slot and probe)

    def release(self, ok: bool) -> None:
        if not self.released:
            self.released = True
            self._done(self, ok)


def no_release(lease: Lease, ok: bool) -> None:
    pass
