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
        # What every request observes, per (route, model, status, stream): one lookup.
        self._every: dict[tuple[str, str, int, bool | None], _EveryRequest] = {}
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
        key = (route, model, status, trace.stream)
        every = self._every.get(key)
        if every is None:
            every = self._every[key] = self._every_request(*key)
        every.requests.inc()
        every.duration.observe(total)
        upstream = trace.upstream_seconds()
        if upstream is not None:
            (every.upstream or every.made("upstream")).observe(upstream)
            (every.overhead or every.made("overhead")).observe(max(0.0, total - upstream))
        elif route != "other":
            (every.overhead or every.made("overhead")).observe(total)
        ttft = trace.ttft_seconds()
        if ttft is not None:
            (every.ttft or every.made("ttft")).observe(ttft)
        if trace.prompt_tokens:
            (every.prompt or every.made("prompt")).inc(trace.prompt_tokens)
        if trace.completion_tokens:
            (every.completion or every.made("completion")).inc(trace.completion_tokens)
        if trace.reasoning_tokens:
            (every.reasoning or every.made("reasoning")).inc(trace.reasoning_tokens)
        child = self._child
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

    def _every_request(
        self, route: str, model: str, status: int, stream: bool | None
    ) -> _EveryRequest:
        child = self._child
        labelled: dict[str, Callable[[], Any]] = {
            "upstream": lambda: child(self.upstream, model),
            "overhead": lambda: child(self.overhead, route),
            "ttft": lambda: child(self.ttft, model),
            "prompt": lambda: child(self.tokens, model, "prompt"),
            "completion": lambda: child(self.tokens, model, "completion"),
            "reasoning": lambda: child(self.tokens, model, "reasoning"),
        }
        return _EveryRequest(
            child(self.requests, route, model, str(status), _flag(stream)),
            child(self.duration, route),
            labelled,
        )

    def _child(self, metric: Any, *labels: str) -> Any:
        """``metric.labels(*labels)``, looked up once: labels() validates and locks on every
        use, and a request makes about eight of them. The label sets are bounded (see above)."""
        key = (id(metric), labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*labels)
        return child


class _EveryRequest:
    """The metric children one kind of request (route, model, status, stream) observes, each
    made when first observed (a child shows in /metrics from then on, at 0)."""

    __slots__ = (
        "_labelled",
        "completion",
        "duration",
        "overhead",
        "prompt",
        "reasoning",
        "requests",
        "ttft",
        "upstream",
    )

    def __init__(self, requests: Any, duration: Any, labelled: dict[str, Callable[[], Any]]):
        self.requests, self.duration, self._labelled = requests, duration, labelled
        self.upstream = self.overhead = self.ttft = None
        self.prompt = self.completion = self.reasoning = None

    def made(self, name: str) -> Any:
        child = self._labelled[name]()
        setattr(self, name, child)
        return child


def _flag(value: bool | None) -> str:
    return "-" if value is None else str(value).lower()


class _Live(Collector):
    """Gauges read at scrape time (account states, cooldowns, slots in use)."""

    def __init__(self, produce: Callable[[], Iterator[GaugeMetricFamily]]) -> None:
        self._produce = produce

    def collect(self) -> Iterator[Any]:
        yield from self._produce()
