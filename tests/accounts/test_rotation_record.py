"""The record of a rotated refresh token shared through Redis (pure part)."""

from __future__ import annotations

from ag2api.state.redis.client import token_digest
from ag2api.state.redis.tokens import ROTATION_HISTORY, Rotation


def test_a_rotation_chains_onto_the_one_it_follows() -> None:
    first = Rotation("t0", token_digest("t0"), "t1")
    second = first.then("t1", "t2")
    assert second == Rotation("t0", f"{token_digest('t0')},{token_digest('t1')}", "t2")
    # A rotation of some other token (a new login came between) starts afresh.
    assert first.then("x0", "x1") == Rotation("x0", token_digest("x0"), "x1")


def test_the_chain_keeps_the_newest_digests() -> None:
    rotation = Rotation("t0", token_digest("t0"), "t1")
    for i in range(1, 60):
        rotation = rotation.then(f"t{i}", f"t{i + 1}")
    digests = rotation.replaced.split(",")
    assert len(digests) == ROTATION_HISTORY and digests[-1] == token_digest("t59")
    assert rotation.first == "t0" and rotation.new == "t60"
