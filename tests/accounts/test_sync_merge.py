"""The merge rules of the account list hosts share (pure: a raw tokens.json and its ledger)."""

from __future__ import annotations

import copy
from typing import Any

from ag2api.accounts.crypto import PLAINTEXT, TokenCipher
from ag2api.accounts.ledger import Ledger, Stamp, digest, ledger_text, parse_ledger
from ag2api.accounts.sync_merge import SharedProject, local_changes, merge

A, B = "proj-a", "proj-b"
HERE, THERE = Stamp(1000, True, "here"), Stamp(2000, True, "there")


def doc(*projects: dict[str, Any]) -> dict[str, Any]:
    return {"projects": [dict(p) for p in projects]}


def project(pid: str, token: str = "rt", **fields: Any) -> dict[str, Any]:
    return {"project_id": pid, "refresh_token": token, "enabled": True, **fields}


def synced(tokens: dict[str, Any]) -> Ledger:
    """The ledger after this file's projects were published (as in step with Redis)."""
    ledger = Ledger()
    shared = []
    for change in local_changes(tokens, Ledger(), PLAINTEXT):
        fields = {name: (HERE, value) for name, value in change.values.items()}
        shared.append(SharedProject(change.project_id, HERE, None, fields))
    merge(tokens, ledger, shared, PLAINTEXT, published=frozenset(p.project_id for p in shared))
    return parse_ledger(ledger_text(ledger).encode())  # as read back from disk


def test_a_first_sync_offers_every_project_as_the_oldest() -> None:
    changes = local_changes(doc(project(A), project(B)), Ledger(existed=False), PLAINTEXT)
    assert [(c.project_id, c.kind, c.base) for c in changes] == [(A, "add", True), (B, "add", True)]
    assert changes[0].values["enabled"] is True and changes[0].values["proxy"] is None


def test_this_hosts_edits_and_removals_are_found_against_the_ledger() -> None:
    tokens = doc(project(A), project(B))
    ledger = synced(tokens)
    assert local_changes(tokens, ledger, PLAINTEXT) == []
    tokens["projects"][0]["proxy"] = "http://p:1"
    del tokens["projects"][1]
    changes = local_changes(tokens, ledger, PLAINTEXT)
    assert [(c.project_id, c.kind, c.values) for c in changes] == [
        (A, "edit", {"proxy": "http://p:1"}),
        (B, "remove", {}),
    ]


def test_a_newer_value_is_merged_and_a_local_edit_made_meanwhile_is_kept() -> None:
    tokens = doc(project(A, user_agent="ua/1"))
    ledger = synced(tokens)
    tokens["projects"][0]["user_agent"] = "ua/mine"  # edited here, not yet published
    shared = SharedProject(A, HERE, None, {"enabled": (THERE, False), "user_agent": (THERE, "x")})
    result = merge(tokens, ledger, [shared], PLAINTEXT)
    entry = tokens["projects"][0]
    assert entry["enabled"] is False and entry["user_agent"] == "ua/mine"
    assert (result.updated, result.held) == (1, 1)
    assert ledger.projects[A].fields["enabled"].stamp == THERE
    # Published next, the local edit then is the newer one.
    assert [c.values for c in local_changes(tokens, ledger, PLAINTEXT)] == [
        {"user_agent": "ua/mine"}
    ]


def test_an_older_value_changes_nothing_and_a_person_wins_a_tie() -> None:
    tokens = doc(project(A))
    ledger = synced(tokens)
    before = copy.deepcopy(tokens)
    older = SharedProject(A, HERE, None, {"enabled": (Stamp(999, True, "zz"), False)})
    assert not merge(tokens, ledger, [older], PLAINTEXT).changed and tokens == before
    gateway_tie = Stamp(1000, False, "zz")  # the gateway's change at the same ms
    assert gateway_tie < HERE
    assert not merge(
        tokens, ledger, [SharedProject(A, HERE, None, {"enabled": (gateway_tie, False)})], PLAINTEXT
    ).changed
    person_tie = Stamp(1000, True, "zz")  # another person's: the host name decides, everywhere
    assert merge(
        tokens, ledger, [SharedProject(A, HERE, None, {"enabled": (person_tie, False)})], PLAINTEXT
    ).changed


def test_a_removal_takes_a_known_project_out_but_not_one_added_here_since() -> None:
    tokens = doc(project(A), project(B))
    ledger = synced(tokens)
    gone = SharedProject(A, HERE, THERE)
    result = merge(tokens, ledger, [gone], PLAINTEXT)
    assert result.removed == 1 and [p["project_id"] for p in tokens["projects"]] == [B]
    assert not ledger.projects[A].present
    assert local_changes(tokens, ledger, PLAINTEXT) == []  # nothing to publish back
    # Signed in again here after it: kept (and offered as an addition), until published.
    tokens["projects"].append(project(A, "rt-new"))
    assert not merge(tokens, ledger, [gone], PLAINTEXT).changed
    assert [c.kind for c in local_changes(tokens, ledger, PLAINTEXT)] == ["add"]


def test_a_project_only_another_host_has_is_added_when_its_token_is_readable() -> None:
    tokens = doc(project(A))
    ledger = synced(tokens)
    fields = {"refresh_token": (THERE, "rt-b"), "email": (THERE, "b@example.com")}
    result = merge(tokens, ledger, [SharedProject(B, THERE, None, fields)], PLAINTEXT)
    assert result.added == 1
    added = tokens["projects"][1]
    assert (added["project_id"], added["refresh_token"], added["email"]) == (
        B,
        "rt-b",
        "b@example.com",
    )
    assert added["enabled"] is True and added["disabled_reason"] is None
    # Without its token (shared by a host without the key): held back, nothing added.
    result = merge(tokens, ledger, [SharedProject("proj-c", THERE, None, {})], PLAINTEXT)
    assert result.held == 1 and len(tokens["projects"]) == 2


def test_a_first_sync_takes_the_shared_values_of_the_projects_redis_knows() -> None:
    tokens = doc(project(A, proxy="http://stale:1"))
    ledger = Ledger(existed=False)
    shared = SharedProject(A, THERE, None, {"proxy": (THERE, None), "enabled": (THERE, False)})
    merge(tokens, ledger, [shared], PLAINTEXT)
    assert "proxy" not in tokens["projects"][0] and tokens["projects"][0]["enabled"] is False
    # A stale copy of a project removed elsewhere goes too.
    tokens = doc(project(A))
    merge(tokens, Ledger(existed=False), [SharedProject(A, HERE, THERE)], PLAINTEXT)
    assert tokens["projects"] == []


def test_an_entry_this_key_cannot_open_is_left_alone() -> None:
    other = TokenCipher(b"another key of sixteen chars or more")
    sealed = project(A, other.seal("rt-a", "refresh_token"))
    tokens = doc(sealed)
    mine = TokenCipher(b"correct horse battery staple 42")
    assert local_changes(tokens, Ledger(existed=False), mine) == []
    first = Ledger(existed=False)
    merge(tokens, first, [SharedProject(A, HERE, None, {"enabled": (THERE, False)})], mine)
    assert tokens["projects"][0]["enabled"] is True


def test_the_ledger_holds_hashes_not_values() -> None:
    tokens = doc(project(A, "rt-secret", proxy="http://user:pw@p:1"))
    text = ledger_text(synced(tokens))
    assert "rt-secret" not in text and "pw@" not in text
    assert digest("rt-secret") in text
