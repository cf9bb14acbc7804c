"""Prometheus metrics, on the gateway's own registry (no process-global state).

Labels stay bounded: routes are the gateway's own paths, models only ones the catalog resolved
(else "unknown"), projects are masked and as many as the accounts; no request ids, no keys.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest, multiprocess
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from ag2api.errors import CONTENT_REJECTED
from ag2api.observe.trace import RequestTrace

LATENCY = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
OVERHEAD = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1)


class Metrics:
    def __init__(self, accounts: Callable[[], Iterator[GaugeMetricFamily]]) -> None:
        r = self.registry = CollectorRegistry()
        self.requests = Counter(
            "ag2api_requests", "Requests served", ["route", "model", "status", "stream"], registry=r
        )
        self.duration = Histogram(
            "ag2api_request_seconds", "Whole request time", ["route"], buckets=LATENCY, registry=r
        )
        self.upstream = Histogram(
            "ag2api_upstream_seconds",
            "Time spent on the upstream",
            ["model"],
            buckets=LATENCY,
            registry=r,
        )
        self.overhead = Histogram(
            "ag2api_gateway_overhead_seconds",
            "Request time not spent on the upstream",
            ["route"],
            buckets=OVERHEAD,
            registry=r,
        )
        self.ttft = Histogram(
            "ag2api_time_to_first_token_seconds",
            "Time until the first streamed token",
            ["model"],
            buckets=LATENCY,
            registry=r,
        )
        self.tokens = Counter("ag2api_tokens", "Tokens by kind", ["model", "kind"], registry=r)
        self.retries = Counter(
            "ag2api_upstream_retries",
            "Upstream attempts that failed and were retried",
            ["reason"],
            registry=r,
        )
        self.failovers = Counter(
            "ag2api_failovers", "Retries that moved to another account", registry=r
        )
        self.refreshes = Counter(
            "ag2api_token_refreshes", "OAuth access-token refreshes", ["result"], registry=r
        )
        self.reloads = Counter(
            "ag2api_reloads",
            "Hot reloads of the config and tokens files",
            ["file", "result"],
            registry=r,
        )
        # Labels stay bounded: the key's label from gateway.yaml (never the key) and a reason
        # of ag2api.keys.policies.REASONS.
        self.key_rejections = Counter(
            "ag2api_key_rejections",
            "Requests refused by a client key's policy",
            ["key", "reason"],
            registry=r,
        )
        self.content_rejections = Counter(
            "ag2api_content_rejections",
            "Requests refused because the upstream rejected their system prompt (a 429 that "
            "is no rate limit; see upstream.sensitive_words)",
            ["model"],
            registry=r,
        )
        self.affinity = Counter(
            "ag2api_affinity",
            "Requests of a conversation: back on the account of its last turn (hit), moved for "
            "good (moved), its first turn (new), or served elsewhere this once (detour)",
            ["result"],
            registry=r,
        )
        # Labels stay bounded: models the catalog resolved and models.fallbacks names.
        self.fallbacks = Counter(
            "ag2api_fallbacks",
            "Requests another model served because no account could serve the one asked",
            ["asked", "served"],
            registry=r,
        )
        self.credit_requests = Counter(
            "ag2api_credit_requests",
            "Requests served on Google One AI credits (the free quota was out)",
            ["model"],
            registry=r,
        )
        self._children: dict[tuple[int, tuple[str, ...]], Any] = {}
        self.live = _Live(accounts)
        r.register(self.live)

    def exposition(self) -> bytes:
        """The /metrics text; with several workers (server.workers) their counters added up."""
        if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            return generate_latest(self.registry)
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        registry.register(self.live)
        return generate_latest(registry)

    def observe(self, trace: RequestTrace, route: str, status: int, known_model: bool) -> None:
        model = trace.model if known_model and trace.model else "unknown"
        total = time.monotonic() - trace.started
        child = self._child
        child(self.requests, route, model, str(status), _flag(trace.stream)).inc()
        child(self.duration, route).observe(total)
        upstream = trace.upstream_seconds()
        if upstream is not None:
            child(self.upstream, model).observe(upstream)
            child(self.overhead, route).observe(max(0.0, total - upstream))
        elif route != "other":
            child(self.overhead, route).observe(total)
        ttft = trace.ttft_seconds()
        if ttft is not None:
            child(self.ttft, model).observe(ttft)
        for kind, count in (
            ("prompt", trace.prompt_tokens),
            ("completion", trace.completion_tokens),
            ("reasoning", trace.reasoning_tokens),
        ):
            if count:
                child(self.tokens, model, kind).inc(count)
        for reason in trace.retry_reasons:
            child(self.retries, reason).inc()
        if trace.failovers:
            self.failovers.inc(trace.failovers)
        if trace.error_type == CONTENT_REJECTED:
            child(self.content_rejections, model).inc()
        if trace.affinity:
            child(self.affinity, trace.affinity).inc()
        served = trace.served
        if served is not None and known_model:
            if served != trace.model:
                child(self.fallbacks, model, served).inc()
            if trace.credits:
                child(self.credit_requests, served).inc()

    def _child(self, metric: Any, *labels: str) -> Any:
        """``metric.labels(*labels)``, looked up once: labels() validates and locks on every
        call, and a request makes about eight of them. The label sets are bounded (see above)."""
        key = (id(metric), labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*labels)
        return child


def _flag(value: bool | None) -> str:
    return "-" if value is None else str(value).lower()


class _Live(Collector):
    """Gauges read at scrape time (account states, cooldowns, slots in use)."""

    def __init__(self, produce: Callable[[], Iterator[GaugeMetricFamily]]) -> None:
        self._produce = produce

    def collect(self) -> Iterator[Any]:
        yield from self._produce()
