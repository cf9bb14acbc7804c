"""The end of every request: its JSON log line, its usage counters, its metrics."""

from __future__ import annotations

from typing import Any

from tornado.web import RequestHandler

EXACT_ROUTES = {
    "/v1/chat/completions": "chat",
    "/v1/images/generations": "images",
    "/v1/models": "models",
    "/health": "health",
    "/ready": "health",
    "/metrics": "metrics",
}


def route_of(path: str) -> str:
    if path in EXACT_ROUTES:
        return EXACT_ROUTES[path]
    if path.startswith("/v1/models/"):
        return "model"
    if path.startswith("/admin"):
        return "admin"
    return "other"


def report_request(handler: RequestHandler) -> None:
    """The Application's ``log_function``: runs once per request, after it finished."""
    trace: Any = getattr(handler, "trace", None)
    if trace is None:
        return
    services = handler.settings["services"]
    status = handler.get_status()
    route = trace.route or route_of(trace.path)
    line = trace.record(status)
    services.request_log.write(line)
    services.metrics.observe(trace, route, status, known_model=trace.model is not None)
    services.content_rejections.observe(trace)
    if getattr(handler, "records_usage", False):  # generation of any dialect, and images
        services.request_log.recent.append(line)
        served = trace.served or trace.model
        services.usage.add(
            key=trace.key_label,
            model=served,
            project=trace.project,
            prompt=trace.prompt_tokens,
            completion=trace.completion_tokens,
            reasoning=trace.reasoning_tokens,
            error=status >= 400 or trace.error_type is not None,
            credits=trace.credits,
            fallback=served != trace.model,
        )
