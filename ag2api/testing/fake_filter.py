"""The backend's content filter: some agent requests get a bare 429 for their system prompt.

A trigger is one phrase, or several that must all be there; each is found case-insensitively
in the system instruction's text, and only for ``requestType: "agent"`` (what the real backend
inspects). The answer is ``BARE_RESOURCE_EXHAUSTED``, the same on every account and retry.
"""

from __future__ import annotations

from typing import Any

Trigger = tuple[str, ...]  # every phrase must occur

# What users bisected the real backend to refuse (sources in conf/gateway.yaml): the fake's
# filter with these plays the real one, and the shipped upstream.sensitive_words get past it.
KNOWN_TRIGGERS: tuple[Trigger, ...] = (
    ("You are a Claude agent, built on Anthropic's Claude Agent SDK.",),
    ("You are Codex, an agent based on GPT-5.",),
    ("Hermes Agent", "Nous Research"),
    ("<system-conventions>", "RFC 2119: MUST, REQUIRED, SHOULD, RECOMMENDED, MAY, OPTIONAL."),
)


def triggers(phrases: tuple[str | Trigger, ...]) -> tuple[Trigger, ...]:
    """Plain phrases as one-phrase triggers."""
    return tuple((p,) if isinstance(p, str) else tuple(p) for p in phrases)


def refused(envelope: Any, rules: tuple[Trigger, ...]) -> bool:
    """Whether the filter refuses this generate request."""
    if not rules or not isinstance(envelope, dict) or envelope.get("requestType") != "agent":
        return False
    request = envelope.get("request")
    system = request.get("systemInstruction") if isinstance(request, dict) else None
    parts = system.get("parts") if isinstance(system, dict) else None
    text = "\n".join(
        p["text"] for p in parts or () if isinstance(p, dict) and isinstance(p.get("text"), str)
    ).lower()
    return any(all(phrase.lower() in text for phrase in rule) for rule in rules)
