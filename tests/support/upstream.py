"""What the fake upstream was sent, read the way the tests ask about it."""

from __future__ import annotations

from typing import Any

from ag2api.testing.fake_upstream import FakeUpstream


def projects(fake: FakeUpstream) -> list[str]:
    """The project of each generation call, in order."""
    return [r.body["project"] for r in fake.generate_requests()]


def upstream_requests(fake: FakeUpstream) -> list[dict[str, Any]]:
    """The Gemini request inside each generation call's envelope, in order."""
    return [r.body["request"] for r in fake.generate_requests()]


def upstream_request(fake: FakeUpstream, n: int) -> dict[str, Any]:
    """The ``n``-th of :func:`upstream_requests` (``-1``: the last)."""
    return upstream_requests(fake)[n]


def replayed_calls(request: dict[str, Any]) -> list[dict[str, Any]]:
    """The ``functionCall`` parts a Gemini request replays from its history."""
    return [p for turn in request["contents"] for p in turn["parts"] if "functionCall" in p]
