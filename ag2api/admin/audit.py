"""The write log of the admin API: who changed what, from where (never a secret).

Every write is one INFO line on the ``ag2api.admin.audit`` logger (standard error) and one entry
in a short in-memory list the console's overview shows.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from dataclasses import dataclass

log = logging.getLogger("ag2api.admin.audit")
KEPT = 50


@dataclass(frozen=True)
class AdminWrite:
    at: float
    who: str  # "session 1a2b3c4d" or "admin key"
    address: str
    action: str  # e.g. "keys.create"
    target: str  # a key label or a masked account id
    outcome: str  # "ok", or why it was refused

    def to_json(self) -> dict[str, object]:
        return {
            "at": self.at,
            "who": self.who,
            "address": self.address,
            "action": self.action,
            "target": self.target,
            "outcome": self.outcome,
        }


class AuditLog:
    def __init__(self, kept: int = KEPT) -> None:
        self._recent: deque[AdminWrite] = deque(maxlen=kept)

    def record(self, who: str, address: str, action: str, target: str, outcome: str) -> None:
        entry = AdminWrite(time.time(), who, address, action, target, outcome)
        self._recent.append(entry)
        log.info("admin %s %s by %s from %s: %s", action, target, who, address, outcome)

    def latest(self) -> list[AdminWrite]:
        return list(reversed(self._recent))
