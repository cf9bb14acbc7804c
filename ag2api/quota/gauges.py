"""The quota as Prometheus gauges, read at scrape time (accounts by masked id; models and
buckets are the upstream's own few names)."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily

from ag2api.quota.book import QuotaBook
from ag2api.redact import mask


def quota_gauges(book: QuotaBook) -> Iterator[GaugeMetricFamily]:
    remaining = GaugeMetricFamily(
        "ag2api_quota_remaining_ratio",
        "Quota left for a model on an account as last checked (0..1)",
        labels=["project", "model"],
    )
    resets = GaugeMetricFamily(
        "ag2api_quota_reset_time_seconds",
        "When an account's quota for a model resets (epoch seconds)",
        labels=["project", "model"],
    )
    buckets = GaugeMetricFamily(
        "ag2api_quota_bucket_remaining_ratio",
        "5-hour and weekly limits of an account's model groups as last checked (0..1)",
        labels=["project", "bucket"],
    )
    bucket_resets = GaugeMetricFamily(
        "ag2api_quota_bucket_reset_time_seconds",
        "When a 5-hour or weekly limit resets (epoch seconds)",
        labels=["project", "bucket"],
    )
    credits = GaugeMetricFamily(
        "ag2api_credits_amount",
        "Google One AI credits an account has as last checked",
        labels=["project"],
    )
    usable = GaugeMetricFamily(
        "ag2api_credits_usable",
        "1 while an account's credits may be spent (enough, and not refused since its check)",
        labels=["project"],
    )
    for project, quota in sorted(book.accounts.items()):
        shown = mask(project)
        for q in quota.models:
            remaining.add_metric([shown, q.model], q.remaining)
            if q.reset_at is not None:
                resets.add_metric([shown, q.model], q.reset_at)
        for b in quota.buckets:
            if b.remaining is not None:
                buckets.add_metric([shown, b.bucket_id], 0.0 if b.disabled else b.remaining)
            if b.reset_at is not None:
                bucket_resets.add_metric([shown, b.bucket_id], b.reset_at)
        if quota.credits is not None:
            credits.add_metric([shown], quota.credits.amount)
            usable.add_metric([shown], 1.0 if book.credits_usable(project) else 0.0)
    yield from (remaining, resets, buckets, bucket_resets, credits, usable)
