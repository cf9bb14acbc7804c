"""Reading the upstream's quota answers (docs/protocol.md §11), and what the book makes of them."""

from __future__ import annotations

from ag2api.quota.book import AccountQuota, QuotaBook
from ag2api.quota.wire import Bucket, epoch, parse_credits, parse_models, parse_summary
from tests.support.clock import FakeClock

RESET = "2026-06-04T15:24:12Z"
BUCKETS = [
    {"bucketId": "gemini-weekly", "window": "weekly", "remainingFraction": 0.4, "resetTime": RESET},
    {"bucketId": "gemini-5h", "window": "5h", "remainingFraction": 1},
    {"bucketId": "3p-weekly", "window": "weekly", "resetTime": RESET},  # used up: no fraction
    {"bucketId": "3p-5h", "window": "5h", "remaining": {"remainingFraction": 0.5}},
]


def test_models_with_a_missing_fraction_are_used_up() -> None:
    body = {
        "models": {
            "gemini-2.5-flash": {"quotaInfo": {"remainingFraction": 0.75, "resetTime": RESET}},
            "claude-sonnet-4-5": {"quotaInfo": {"resetTime": RESET}},
            "chat_20706": {"quotaInfo": {"remainingFraction": 1}, "isInternal": True},
            "no-quota": {"displayName": "x"},
        }
    }
    assert [(q.model, q.remaining) for q in parse_models(body)] == [
        ("claude-sonnet-4-5", 0.0),
        ("gemini-2.5-flash", 0.75),
    ]


def test_summary_bare_or_wrapped() -> None:
    groups = [
        {"displayName": "Gemini Models", "buckets": BUCKETS[:2]},
        {"displayName": "Claude and GPT models", "buckets": BUCKETS[2:]},
    ]
    for body in (
        {"groups": groups},
        {"response": {"groups": groups}},
        {"quotaSummary": {"groups": groups}},
    ):
        buckets = {b.bucket_id: b for b in parse_summary(body)}
        assert buckets["gemini-weekly"] == Bucket("gemini-weekly", "weekly", "gemini", 0.4, RESET)
        assert buckets["3p-weekly"].exhausted and buckets["3p-weekly"].family == "3p"
        assert buckets["3p-5h"].remaining == 0.5 and buckets["gemini-5h"].reset_at is None
    assert parse_summary({"description": "none"}) == []


def test_credits_as_strings_or_numbers() -> None:
    def tier(*entries: dict[str, object]) -> dict[str, object]:
        return {"paidTier": {"id": "g1-pro-tier", "availableCredits": list(entries)}}

    found = parse_credits(
        tier(
            {"creditType": "OTHER", "creditAmount": "9"},
            {
                "creditType": "google_one_ai",
                "creditAmount": "25000",
                "minimumCreditAmountForUsage": "50",
            },
        )
    )
    assert found is not None and (found.amount, found.minimum, found.usable) == (25000, 50, True)
    few = parse_credits(
        tier({"creditType": "GOOGLE_ONE_AI", "creditAmount": 20, "minimumCreditAmountForUsage": 50})
    )
    assert few is not None and not few.usable
    assert parse_credits({"paidTier": {"id": "g1-pro-tier"}}) is None
    assert parse_credits({"currentTier": {"id": "free-tier"}}) is None


def test_the_book_skips_until_the_latest_reset_and_stops_credits_until_a_check() -> None:
    at = epoch(RESET)
    assert at is not None
    clock = FakeClock(now=at - 3600)
    book = QuotaBook(clock)
    models = tuple(
        parse_models({"models": {"claude-sonnet-4-5": {"quotaInfo": {"remainingFraction": 0.9}}}})
    )
    credits = parse_credits(
        {"paidTier": {"availableCredits": [{"creditType": "GOOGLE_ONE_AI", "creditAmount": "99"}]}}
    )
    buckets = tuple(parse_summary({"groups": [{"buckets": BUCKETS}]}))
    book.record("p", AccountQuota(clock(), models, buckets, credits))
    # Its own quota is fine, but the weekly limit of its group is out.
    assert book.exhausted_until("p", "claude-sonnet-4-5") == (at, "QUOTA_EXHAUSTED (weekly limit)")
    assert book.remaining("p", "claude-sonnet-4-5") == 0.0
    assert book.exhausted_until("p", "gemini-2.5-flash") is None
    assert book.remaining("p", "gemini-2.5-flash") == 0.4
    clock.advance(3601)  # the resets passed: full again, nothing skipped
    assert book.exhausted_until("p", "claude-sonnet-4-5") is None
    assert book.remaining("p", "gemini-2.5-flash") == 1.0
    assert book.credits_usable("p") and book.stop_credits("p") and not book.stop_credits("p")
    assert not book.credits_usable("p")
    book.record("p", AccountQuota(clock(), models, buckets, credits))
    assert book.credits_usable("p")
