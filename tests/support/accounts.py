"""Accounts built in memory (no tokens.json), for the pools of the state and dispatcher tests."""

from __future__ import annotations

from collections.abc import Sequence

from ag2api.accounts.model import Account

PROJECTS = ("proj-alpha-0001", "proj-beta-0002", "proj-gamma-0003")


def accounts(
    n: int | None = None, *, projects: Sequence[str] = PROJECTS, tokens: Sequence[str] = ()
) -> list[Account]:
    """The first ``n`` of ``projects`` (all of them by default) as accounts, with the refresh
    tokens ``tokens`` (by default ``rt-0``, ``rt-1``, …)."""
    chosen = projects[:n]
    refresh = tokens or [f"rt-{i}" for i in range(len(chosen))]
    return [Account(project_id=p, refresh_token=t) for p, t in zip(chosen, refresh, strict=True)]
