"""``ag2api accounts``: list, enable and disable projects in tokens.json through the locked store.

A running gateway sees the change through its file watcher, like any other edit.
"""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any

from ag2api.accounts.ledger import Entry, read_ledger
from ag2api.accounts.proxies import DEFAULT, ENVIRONMENT, shown_proxy
from ag2api.accounts.standing import state_name, verification_url
from ag2api.accounts.store import read_tokens, update_tokens
from ag2api.quota.wire import reset_in
from ag2api.redact import mask, shown_disabled_reason


class AccountNotFound(LookupError):
    pass


def account_rows(
    path: Path,
    quota: dict[str, tuple[float, list[dict[str, Any]]]] | None = None,
    default_proxy: str | None = None,
) -> list[list[str]]:
    """The table of ``ag2api accounts``; ``quota`` is the gateway's last check per project,
    ``default_proxy`` the config's ``upstream.proxy``. With hosts sharing the pool (a ledger beside
    tokens.json) it names who last changed each."""
    ledger = read_ledger(path)
    rows = [
        [
            "#",
            "PROJECT",
            "EMAIL",
            "STATE",
            "PROXY",
            "LAST USED",
            "LOWEST QUOTA",
            "CHECKED",
            "REASON",
        ]
    ]
    for i, acc in enumerate(read_tokens(path).accounts, 1):
        last = (
            datetime.datetime.fromtimestamp(acc.last_used_at).isoformat(" ", "seconds")
            if acc.last_used_at
            else "-"
        )
        reason = (shown_disabled_reason(acc.disabled_reason, acc.project_id) or "")[:70]
        lowest, checked = "-", "-"
        if quota and acc.project_id in quota:
            at, models = quota[acc.project_id]
            checked = datetime.datetime.fromtimestamp(at).strftime("%m-%d %H:%M")
            if models:
                worst = min(models, key=lambda m: m["remaining"])
                lowest = (
                    f"{worst['model']} {worst['remaining']:.0%} "
                    f"(resets in {reset_in(worst.get('reset_time'))})"
                )
        rows.append(
            [
                str(i),
                mask(acc.project_id),
                acc.email or "-",
                state_name(acc.enabled, acc.disabled_reason).replace("_", " "),
                _proxy_cell(acc.proxy, default_proxy),
                last,
                lowest,
                checked,
                reason or "-",
            ]
        )
        if ledger.existed:
            rows[-1].append(last_change(ledger.projects.get(acc.project_id)))
    if ledger.existed:
        rows[0].append("LAST CHANGE")
    return rows


def last_change(entry: Entry | None) -> str:
    """The host that last changed a project, and when (``(gateway)``: a runtime change)."""
    stamp = entry.latest() if entry is not None else None
    if stamp is None:
        return "-"
    if not stamp.version:
        return f"{stamp.host} (first sync)"
    at = datetime.datetime.fromtimestamp(stamp.version / 1000).strftime("%m-%d %H:%M")
    return f"{stamp.host} {at}" + ("" if stamp.person else " (gateway)")


def _proxy_cell(own: str | None, default: str | None) -> str:
    proxy, source = shown_proxy(own, default)
    return f"{proxy} ({source})" if source in (DEFAULT, ENVIRONMENT) else proxy


def verification_lines(path: Path, recheck_seconds: float) -> list[str]:
    """What to do for each account that needs verification (shown under the table)."""
    lines = []
    for i, acc in enumerate(read_tokens(path).accounts, 1):
        url = verification_url(acc.disabled_reason)
        if acc.enabled or url is None:
            continue
        lines.append(
            f"#{i} {acc.email or mask(acc.project_id)} needs verification: open {url} in a "
            f"browser signed in to it; the gateway rechecks every {recheck_seconds:g}s and "
            "puts it back by itself."
        )
    return lines


def format_table(rows: list[list[str]]) -> str:
    widths = [max(len(row[c]) for row in rows) for c in range(len(rows[0]))]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )


def select(projects: list[dict[str, Any]], selector: str) -> dict[str, Any]:
    """A project by list number (``2`` or ``#2``), exact id, email, or unique id fragment."""
    number = selector.lstrip("#")
    if number.isdigit() and 1 <= int(number) <= len(projects):
        return projects[int(number) - 1]
    exact = [p for p in projects if selector in (p.get("project_id"), p.get("email"))]
    if len(exact) == 1:
        return exact[0]
    partial = [p for p in projects if selector in str(p.get("project_id", ""))]
    if len(partial) == 1:
        return partial[0]
    if partial:
        raise AccountNotFound(f"{selector!r} matches {len(partial)} projects; be more specific")
    raise AccountNotFound(f"no project matches {selector!r} (see `ag2api accounts list`)")


def set_enabled(path: Path, selector: str, enabled: bool, reason: str | None = None) -> str:
    """Enable or disable one project; returns its (masked) id."""
    chosen: dict[str, Any] = {}

    def mutate(doc: dict[str, Any]) -> None:
        projects = [p for p in doc.get("projects", []) if isinstance(p, dict)]
        entry = select(projects, selector)
        entry["enabled"] = enabled
        entry["disabled_reason"] = None if enabled else (reason or "disabled by hand")
        if enabled:
            entry.pop("cooldowns", None)
        chosen.update(entry)

    if not path.exists():
        raise AccountNotFound(f"{path} does not exist")
    update_tokens(path, mutate)
    return mask(str(chosen.get("project_id")))


def remove_account(path: Path, selector: str) -> str:
    """Take one project out of tokens.json (its tokens go with it); returns its masked id."""
    chosen: dict[str, Any] = {}

    def mutate(doc: dict[str, Any]) -> None:
        projects = [p for p in doc.get("projects", []) if isinstance(p, dict)]
        entry = select(projects, selector)
        doc["projects"] = [p for p in doc.get("projects", []) if p is not entry]
        chosen.update(entry)

    if not path.exists():
        raise AccountNotFound(f"{path} does not exist")
    update_tokens(path, mutate)
    return mask(str(chosen.get("project_id")))
