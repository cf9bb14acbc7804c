"""The table of each client key's policy against its use (``ag2api usage``): its state, allowed
models and limits, and its tokens today and this month as the usage database counted them."""

from __future__ import annotations

import datetime
from typing import Any

from ag2api.config.schema import GatewayConfig


def key_limit_rows(
    cfg: GatewayConfig, rows_today: list[dict[str, Any]], rows_month: list[dict[str, Any]]
) -> list[list[str]]:
    """Each key's policy against its use today and this month (from the usage database)."""

    def tokens(rows: list[dict[str, Any]], label: str) -> int:
        return sum(
            int(r["prompt_tokens"] or 0) + int(r["completion_tokens"] or 0)
            for r in rows
            if r["key"] == label
        )

    def show(limit: int | None, used: int | None = None) -> str:
        if limit is None:
            return "-" if used is None else str(used)
        return f"{used}/{limit}" if used is not None else str(limit)

    table = [["KEY", "STATE", "MODELS", "RPM", "TPM", "CONCURRENT", "TODAY", "MONTH"]]
    now = datetime.datetime.now(datetime.UTC).timestamp()
    for key in cfg.api_keys:
        p = cfg.policy_of(key)
        state = (
            "disabled"
            if not p.enabled
            else ("expired" if p.expires is not None and now >= p.expires else "active")
        )
        table.append(
            [
                key.label,
                state,
                ",".join(p.models) if p.models is not None else "all",
                show(p.rpm),
                show(p.tpm),
                show(p.max_concurrent),
                show(p.daily_tokens, tokens(rows_today, key.label)),
                show(p.monthly_tokens, tokens(rows_month, key.label)),
            ]
        )
    return table
