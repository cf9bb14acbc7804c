"""Merging the shared account list into this host's tokens.json, and finding what changed here.

Pure functions over the raw document and its :class:`~ag2api.accounts.ledger.Ledger`:

* :func:`local_changes` — what the file holds that the ledger does not know: a project added, an
  edited field, a project removed. These are this host's changes (a person's: by hand, ``ag2api
  login``, ``accounts import``, the console) and are published with a new version.
* :func:`merge` — versioned values from Redis (or this gateway's own runtime changes) into the
  file. Per field, the newer stamp wins; a field whose file value differs from what the ledger
  recorded is a local change not yet published and is never overwritten (it is published next and
  then counts as the newer). A removal (tombstone) takes the project out unless it was added
  again after it; a project only Redis has is added when its refresh token can be read here.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ag2api.accounts.crypto import TokenCipher
from ag2api.accounts.ledger import (
    SECRET_FIELD,
    SHARED_FIELDS,
    Entry,
    Ledger,
    Locked,
    Stamp,
    Versioned,
    digest,
    set_value,
    shared_values,
)


@dataclass(frozen=True)
class SharedProject:
    """A project as the shared copy holds it; a field this host cannot read is left out."""

    project_id: str
    added: Stamp | None = None
    gone: Stamp | None = None
    fields: dict[str, tuple[Stamp, Any]] = field(default_factory=dict)

    @property
    def present(self) -> bool:
        return self.added is not None and (self.gone is None or self.added > self.gone)

    @property
    def partial(self) -> bool:
        """Only field values (no addition or removal known): never adds or removes a project."""
        return self.added is None and self.gone is None


@dataclass(frozen=True)
class Change:
    """A change found in this host's file: ``add`` (every field), ``edit`` (the changed ones) or
    ``remove``. ``base``: from a first sync, published as the oldest version."""

    project_id: str
    kind: str
    values: dict[str, Any] = field(default_factory=dict)
    base: bool = False


@dataclass
class MergeResult:
    changed: bool = False  # the document was changed
    ledger_changed: bool = False
    added: int = 0
    removed: int = 0
    updated: int = 0  # fields set from a newer version
    # Shared versions not merged: a local change of the same field comes first, or a project this
    # host cannot add (its refresh token is not readable here).
    held: int = 0


def _projects(doc: dict[str, Any]) -> list[dict[str, Any]]:
    projects = doc.get("projects")
    if not isinstance(projects, list):
        projects = []
        doc["projects"] = projects
    return [p for p in projects if isinstance(p, dict) and isinstance(p.get("project_id"), str)]


def local_changes(doc: dict[str, Any], ledger: Ledger, cipher: TokenCipher) -> list[Change]:
    """What this host's file holds that its ledger does not: its own changes to publish."""
    changes: list[Change] = []
    seen: set[str] = set()
    for entry in _projects(doc):
        pid = entry["project_id"]
        seen.add(pid)
        try:
            values = shared_values(entry, cipher)
        except Locked:
            continue  # its token cannot be read here: left alone
        if not values[SECRET_FIELD]:
            continue
        rec = ledger.projects.get(pid)
        if rec is None or not rec.present:
            changes.append(Change(pid, "add", values, base=not ledger.existed))
            continue
        edited = {n: v for n, v in values.items() if n in rec.fields}
        edited = {n: v for n, v in edited.items() if rec.fields[n].digest != digest(v)}
        if edited:
            changes.append(Change(pid, "edit", edited))
        unknown = {n: v for n, v in values.items() if n not in rec.fields}
        if unknown:  # a field the ledger never recorded: the shared value wins
            changes.append(Change(pid, "edit", unknown, base=True))
    for pid, rec in ledger.projects.items():
        if rec.present and pid not in seen:
            changes.append(Change(pid, "remove"))
    return changes


def merge(
    doc: dict[str, Any],
    ledger: Ledger,
    shared: Iterable[SharedProject],
    cipher: TokenCipher,
    *,
    published: frozenset[str] = frozenset(),
) -> MergeResult:
    """Bring ``shared`` into ``doc`` and ``ledger`` (both changed in place). ``published``: the
    projects whose local addition or removal was just published (their shared copy now says so,
    and is taken as this file's)."""
    out = MergeResult()
    by_id = {e["project_id"]: e for e in _projects(doc)}
    for project in shared:
        pid = project.project_id
        rec = ledger.projects.get(pid)
        entry = by_id.get(pid)
        if project.partial:
            if entry is not None and rec is not None and rec.present:
                _fields(rec, project, entry, cipher, out)
        elif entry is None:
            _absent(doc, ledger, project, rec, by_id, out)
        elif not project.present:
            _removed(doc, ledger, project, rec, entry, by_id, pid in published, out)
        else:
            _present(ledger, project, rec, entry, cipher, pid in published, out)
    return out


def _absent(
    doc: dict[str, Any],
    ledger: Ledger,
    project: SharedProject,
    rec: Entry | None,
    by_id: dict[str, dict[str, Any]],
    out: MergeResult,
) -> None:
    """A project the file does not hold."""
    pid = project.project_id
    if not project.present:
        if (
            rec is not None
            and project.gone is not None
            and (rec.gone is None or project.gone > rec.gone)
        ):
            rec.gone = project.gone  # removed here and there: nothing left to publish
            out.ledger_changed = True
        return
    assert project.added is not None
    if rec is not None and rec.present:
        return  # removed here and not yet published: that removal is the newer
    if rec is not None and rec.gone is not None and project.added <= rec.gone:
        return
    token = project.fields.get(SECRET_FIELD)
    if token is None or not token[1]:
        out.held += 1  # its refresh token is not readable here
        return
    entry: dict[str, Any] = {
        "project_id": pid,
        SECRET_FIELD: token[1],
        "access_token": None,
        "expires_at": 0,
        "enabled": True,
        "disabled_reason": None,
    }
    new = Entry(added=project.added, gone=rec.gone if rec else None)
    for name, (stamp, value) in project.fields.items():
        if name in SHARED_FIELDS:
            set_value(entry, name, value)
            new.fields[name] = Versioned(stamp, digest(value))
    doc["projects"].append(entry)
    by_id[pid] = entry
    ledger.projects[pid] = new
    out.changed = out.ledger_changed = True
    out.added += 1


def _removed(
    doc: dict[str, Any],
    ledger: Ledger,
    project: SharedProject,
    rec: Entry | None,
    entry: dict[str, Any],
    by_id: dict[str, dict[str, Any]],
    published: bool,
    out: MergeResult,
) -> None:
    """A project the file holds and the shared copy says was removed."""
    gone = project.gone
    assert gone is not None
    if rec is None:
        if ledger.existed:
            return  # added here and not yet published: the newer
    elif not rec.present:
        if not published:
            return  # added here again after the removal, not yet published
    elif rec.added is not None and rec.added >= gone:
        return  # added again after it (the shared copy learns it when this host republishes)
    doc["projects"] = [p for p in doc["projects"] if p is not entry]
    del by_id[project.project_id]
    ledger.projects[project.project_id] = Entry(added=rec.added if rec else None, gone=gone)
    out.changed = out.ledger_changed = True
    out.removed += 1


def _present(
    ledger: Ledger,
    project: SharedProject,
    rec: Entry | None,
    entry: dict[str, Any],
    cipher: TokenCipher,
    published: bool,
    out: MergeResult,
) -> None:
    """A project both hold: the newer version of each field."""
    assert project.added is not None
    pid = project.project_id
    if rec is None or not rec.present:
        if ledger.existed and not published:
            return  # added here (again) and not yet published
        rec = Entry(
            added=project.added,
            gone=rec.gone if rec else None,
            fields=dict(rec.fields) if rec else {},
        )
        ledger.projects[pid] = rec
        out.ledger_changed = True
    elif rec.added is not None and project.added > rec.added:
        rec.added = project.added
        out.ledger_changed = True
    _fields(rec, project, entry, cipher, out)


def _fields(
    rec: Entry, project: SharedProject, entry: dict[str, Any], cipher: TokenCipher, out: MergeResult
) -> None:
    """The newer version of each field; a field changed here and not yet published is kept."""
    try:
        values = shared_values(entry, cipher)
    except Locked:
        return
    for name, (stamp, value) in project.fields.items():
        if name not in SHARED_FIELDS:
            continue
        mine = rec.fields.get(name)
        if mine is not None and stamp <= mine.stamp:
            continue
        here, theirs = digest(values[name]), digest(value)
        if here == theirs:
            rec.fields[name] = Versioned(stamp, theirs)
            out.ledger_changed = True
        elif mine is None or here == mine.digest:
            set_value(entry, name, value)
            rec.fields[name] = Versioned(stamp, theirs)
            out.changed = out.ledger_changed = True
            out.updated += 1
        else:
            out.held += 1  # changed here meanwhile: published next, then the newer


def runtime_project(project_id: str, values: dict[str, Any], stamp: Stamp) -> SharedProject:
    """This gateway's own change (a runtime disable, a rotated refresh token) as a partial
    shared project: merged like the others, it never adds or removes a project."""
    return SharedProject(project_id, None, None, {n: (stamp, v) for n, v in values.items()})
