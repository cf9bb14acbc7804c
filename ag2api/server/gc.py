"""Garbage-collector settings for a long-running event-loop service.

A request allocates thousands of short-lived containers (parsed events, translated chunks), so
CPython's default first-generation threshold (700) ran a collection every few events, and each
full collection walked the whole start-up heap (modules, config, SDK tables) again: 10-13 % of
the CPU of a streamed request in the profile (docs/performance.md). The start-up heap is moved
out of the collector's sight once the gateway is ready, and collections run less often. Cycles
are still collected; nothing here turns the collector off.
"""

from __future__ import annotations

import gc

# Generation-0 collections every 20,000 net allocations (a few requests' worth) instead of 700;
# generations 1 and 2 at their usual ratios.
THRESHOLDS = (20_000, 10, 10)


def tune_gc(thresholds: tuple[int, int, int] = THRESHOLDS) -> None:
    """Call once start-up is done: what exists now lives as long as the process."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*thresholds)
