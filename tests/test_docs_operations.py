"""docs/operations.md's Health section against a running gateway: its table names every field
/health answers with, and only those."""

from __future__ import annotations

import json
import re
from pathlib import Path

from tests.support.http import fetch

PAGE = Path(__file__).resolve().parents[1] / "docs" / "operations.md"


def health_table() -> dict[str, set[str]]:
    """Each top-level field of the table, with the sub-fields its row names (backticked names
    before a colon or a list of them; values such as `ok` are not fields)."""
    section = PAGE.read_text(encoding="utf-8").split("## Health\n", 1)[1].split("\n## ", 1)[0]
    rows: dict[str, set[str]] = {}
    for field, said in re.findall(r"^\| `(\w+)` \| (.+) \|$", section, re.M):
        rows[field] = set(re.findall(r"`(\w+)`(?=[,: ]|$| \[| \()", said))
    return rows


async def test_the_health_table_names_every_field(base_url: str) -> None:
    body = json.loads((await fetch(base_url + "/health")).body)
    rows = health_table()
    assert set(rows) == set(body), f"documented {sorted(rows)}, answered {sorted(body)}"
    for field, value in body.items():
        if isinstance(value, dict):
            left_out = set(value) - rows[field]
            assert not left_out, f"the row of /health's {field!r} leaves out {left_out}"
