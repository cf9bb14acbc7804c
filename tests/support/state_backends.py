"""The state backends the contract tests run on: memory, and a real redis-server (the
``backend`` and ``factory`` fixtures in tests/state/conftest.py build them)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ag2api.accounts.model import Account

MODEL = "gemini-2.5-flash"
PROJECTS = ("proj-alpha-0001", "proj-beta-0002", "proj-gamma-0003")

Factory = Callable[..., Any]


def accounts(n: int = 3) -> list[Account]:
    return [Account(project_id=p, refresh_token=f"rt-{i}") for i, p in enumerate(PROJECTS[:n])]
