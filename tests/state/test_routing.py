"""Routing in the AccountState contract, on both backends: conversation affinity, the fill and
balanced strategies, and credits when the free quota is out."""

from __future__ import annotations

from collections import Counter

import pytest

from ag2api.accounts.pool import AllCooling
from ag2api.state.base import AccountState, Routing, conversation_key
from tests.support.accounts import PROJECTS, accounts
from tests.support.state_backends import MODEL, Factory

ALPHA, BETA, GAMMA = PROJECTS
CONV = conversation_key("conversation-1", MODEL)


async def pick(state: AccountState, routing: Routing, exclude: set[str] | None = None) -> str:
    """One pick and its release: ``project outcome`` (credits marked)."""
    grant = await state.pick(MODEL, exclude or set(), routing)
    state.release(grant, ok=True)
    await state.settle()
    mark = " credits" if grant.credits else ""
    return f"{grant.account.project_id} {grant.affinity}{mark}".strip()


async def test_a_conversation_stays_on_its_account_over_the_rotation(factory: Factory) -> None:
    async with factory(rotation=1) as state:
        routing = Routing(conversation=CONV)
        assert await pick(state, routing) == f"{ALPHA} new"
        other = Routing()
        # Requests without a conversation keep rotating, one use each.
        assert [await pick(state, other) for _ in range(3)] == [BETA, GAMMA, ALPHA]
        assert [await pick(state, routing) for _ in range(3)] == [f"{ALPHA} hit"] * 3
        # Another conversation starts where the rotation is.
        second = Routing(conversation=conversation_key("conversation-2", MODEL))
        assert await pick(state, second) == f"{BETA} new"
        assert await pick(state, second) == f"{BETA} hit"


async def test_a_cooldown_moves_the_conversation_once(factory: Factory) -> None:
    async with factory(rotation=1) as state:
        routing = Routing(conversation=CONV)
        assert await pick(state, routing) == f"{ALPHA} new"
        alpha = state.get(ALPHA)
        assert alpha is not None
        state.cool(alpha, MODEL, 100, "RATE_LIMIT_EXCEEDED")
        await state.settle()
        assert await pick(state, routing) == f"{BETA} moved"
        assert [await pick(state, routing) for _ in range(3)] == [f"{BETA} hit"] * 3


async def test_a_failed_account_is_a_detour_not_a_move(factory: Factory) -> None:
    async with factory(rotation=1) as state:
        routing = Routing(conversation=CONV)
        assert await pick(state, routing) == f"{ALPHA} new"
        # This request failed on alpha: it goes elsewhere, the conversation stays bound.
        assert await pick(state, routing, exclude={ALPHA}) == f"{BETA} detour"
        assert await pick(state, routing) == f"{ALPHA} hit"


async def test_a_disabled_account_moves_the_conversation(factory: Factory) -> None:
    async with factory(rotation=1) as state:
        routing = Routing(conversation=CONV)
        assert await pick(state, routing) == f"{ALPHA} new"
        alpha = state.get(ALPHA)
        assert alpha is not None
        state.disable(alpha, "revoked")
        await state.settle()
        assert await pick(state, routing) == f"{BETA} moved"


async def test_affinity_is_per_model(factory: Factory) -> None:
    async with factory(rotation=1) as state:
        assert await pick(state, Routing(conversation=CONV)) == f"{ALPHA} new"
        other = Routing(conversation=conversation_key("conversation-1", "other-model"))
        grant = await state.pick("other-model", set(), other)
        state.release(grant, ok=True)
        assert grant.affinity == "new" and grant.account.project_id == BETA


async def test_fill_uses_one_account_until_it_cannot_serve(factory: Factory) -> None:
    async with factory(rotation=1) as state:
        fill = Routing(strategy="fill")
        assert [await pick(state, fill) for _ in range(4)] == [ALPHA] * 4
        alpha = state.get(ALPHA)
        assert alpha is not None
        state.cool(alpha, MODEL, 100, "QUOTA_EXHAUSTED")
        await state.settle()
        assert [await pick(state, fill) for _ in range(2)] == [BETA] * 2


async def test_balanced_serves_in_proportion_to_the_quota_left(factory: Factory) -> None:
    async with factory(rotation=1) as state:
        balanced = Routing(strategy="balanced", remaining={ALPHA: 0.25, BETA: 1.0, GAMMA: 0.75})
        picked = [await pick(state, balanced) for _ in range(8)]
        assert picked[0] == BETA  # the most left goes first …
        assert Counter(picked) == {ALPHA: 1, BETA: 4, GAMMA: 3}  # … and each in proportion
        # Unknown quota counts as full; an account that cannot serve is left out.
        beta = state.get(BETA)
        assert beta is not None
        state.cool(beta, MODEL, 100, "QUOTA_EXHAUSTED")
        await state.settle()
        even = Routing(strategy="balanced")
        assert Counter([await pick(state, even) for _ in range(4)]) == {ALPHA: 2, GAMMA: 2}


async def test_credits_serve_when_the_free_quota_is_out(factory: Factory) -> None:
    async with factory(accounts(2), rotation=1) as state:
        alpha, beta = state.get(ALPHA), state.get(BETA)
        assert alpha is not None and beta is not None
        state.cool(alpha, MODEL, 100, "QUOTA_EXHAUSTED")
        state.cool(beta, MODEL, 100, "QUOTA_EXHAUSTED")
        await state.settle()
        with pytest.raises(AllCooling):  # credits off
            await state.pick(MODEL)
        routing = Routing(credits=frozenset({BETA}), conversation=CONV)
        assert await pick(state, routing) == f"{BETA} new credits"
        assert await pick(state, routing) == f"{BETA} moved credits"  # never a free "hit"
        # A rate limit is no used-up quota: credits do not serve through it.
        state.cool(beta, MODEL, 200, "RATE_LIMIT_EXCEEDED")
        await state.settle()
        with pytest.raises(AllCooling):
            await state.pick(MODEL, set(), routing)


async def test_replicas_share_the_conversation(factory: Factory, backend: str) -> None:
    if backend == "memory":
        pytest.skip("one process has no other replica")
    async with factory(rotation=1) as one, factory(rotation=1) as other:
        routing = Routing(conversation=CONV)
        await pick(one, Routing())  # the rotation moves on: alpha served
        assert await pick(one, routing) == f"{BETA} new"
        assert [await pick(other, routing) for _ in range(2)] == [f"{BETA} hit"] * 2
        beta = other.get(BETA)
        assert beta is not None
        other.cool(beta, MODEL, 100, "QUOTA_EXHAUSTED")
        await other.settle()
        moved = await pick(other, routing)
        assert moved.endswith("moved") and not moved.startswith(BETA)
        assert await pick(one, routing) == moved.replace("moved", "hit")


async def test_a_conversation_that_starts_here_is_placed_afresh(factory: Factory) -> None:
    async with factory(rotation=1) as state:
        starts = Routing(conversation=CONV, fresh=True)
        # One-shot requests repeating a prompt spread like any other …
        assert [await pick(state, starts) for _ in range(3)] == [
            f"{ALPHA} new",
            f"{BETA} new",
            f"{GAMMA} new",
        ]
        # … and the turn after the last one comes back to where it went.
        assert await pick(state, Routing(conversation=CONV)) == f"{GAMMA} hit"


async def test_a_request_that_cooled_its_account_moves_the_conversation(
    factory: Factory,
) -> None:
    async with factory(rotation=1) as state:
        routing = Routing(conversation=CONV)
        assert await pick(state, routing) == f"{ALPHA} new"
        alpha = state.get(ALPHA)
        assert alpha is not None
        state.cool(alpha, MODEL, 100, "QUOTA_EXHAUSTED")  # this request's 429 on alpha
        await state.settle()
        moved = await pick(state, routing, exclude={ALPHA})
        assert moved.endswith(" moved")
        assert await pick(state, routing) == moved.replace("moved", "hit")
