"""The usage database read for the terminal: ``ag2api usage``'s statistics over a span of days,
grouped, with each key's rows for UTC today and this month (the limits table of
:mod:`ag2api.keys.report` compares them), and the quota last checked per account for
``ag2api accounts``."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ag2api.observe.usage import COLUMNS, connect, query_usage, read_quota


def stored_quota(db_path: Path) -> dict[str, Any] | None:
    """The quota last checked per account; None without a usage database yet."""
    if not db_path.exists():
        return None
    db = connect(db_path)
    try:
        return read_quota(db)
    finally:
        db.close()


@dataclass(frozen=True)
class UsageReport:
    rows: list[dict[str, Any]]  # grouped as asked, over the days asked
    today: list[dict[str, Any]]  # per key, UTC today
    month: list[dict[str, Any]]  # per key, this UTC month


def read_usage(
    db_path: Path, since: str, until: str | None, groups: tuple[str, ...]
) -> UsageReport:
    """The statistics grouped by ``groups`` from ``since`` to ``until``, and each key's today and
    this month; ValueError for a day or group the database cannot answer."""
    db = connect(db_path)
    try:
        rows = query_usage(db, since=since, until=until, group_by=groups)
        day = datetime.datetime.now(datetime.UTC).date()
        rows_today = query_usage(db, since=day.isoformat(), group_by=("key",))
        rows_month = query_usage(db, since=day.replace(day=1).isoformat(), group_by=("key",))
    finally:
        db.close()
    return UsageReport(rows, rows_today, rows_month)


def usage_table(groups: tuple[str, ...], rows: list[dict[str, Any]]) -> list[list[str]]:
    """The statistics as a table: the groups' columns, then every counter."""
    head = [*groups, "REQUESTS", "PROMPT", "COMPLETION", "REASONING", "ERRORS", "CREDITS"]
    head += ["FALLBACKS"]
    table = [[g.upper() for g in head[: len(groups)]] + head[len(groups) :]]
    table += [[str(row[g]) for g in groups] + [str(row[c]) for c in COLUMNS] for row in rows]
    return table
