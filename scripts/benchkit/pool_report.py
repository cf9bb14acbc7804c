"""``scripts/bench.py --pool``'s output: a Markdown table per scenario, or JSON."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from benchkit.pool import PoolRow, PoolSettings


def pool_table(rows: list[PoolRow], settings: PoolSettings) -> str:
    schedule = settings.reset_period is not None
    head = (
        "strategy", "affinity", *(("credits",) if schedule else ()), "served",
        *(("on credits", "pool out") if schedule else ()), "same account %",
        "upstream 429s / 100", "added wait p50 ms", "added wait p99 ms", "cached %",
    )  # fmt: skip
    title = (
        f"{settings.accounts} accounts, {settings.conversations} conversations at once, up to "
        f"{settings.turns} turns of +{settings.words} words each, "
        f"{settings.max_concurrent} calls at once per account"
    )
    if schedule:
        title += (
            f"; quota back {settings.reset_period:g} s after a window opens, "
            f"{settings.periods:g} periods; {settings.credits:g} credits each"
        )
    else:
        title += "; until the pool is used up"
    lines = [title, "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = (
            r.strategy, "on" if r.affinity else "off", *(("on" if r.credits else "off",)
            if schedule else ()), r.served, *((r.on_credits, r.pool_out) if schedule else ()),
            r.same_account_pct, r.upstream_429_per_100, r.added_wait_p50_ms,
            r.added_wait_p99_ms, r.cached_pct,
        )  # fmt: skip
        lines.append("| " + " | ".join("-" if c is None else str(c) for c in cells) + " |")
    return "\n".join(lines)


def pool_json(rows: list[PoolRow], settings: PoolSettings) -> dict[str, Any]:
    return {"settings": asdict(settings), "rows": [asdict(r) for r in rows]}
