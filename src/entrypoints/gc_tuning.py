"""The worker's garbage collector: rarer collections, which mostly found nothing to free.

A worker keeps tens of thousands of journeys in memory (``journey_cache.MAXSIZE``) and
allocates a great many short-lived objects per event (source events, domain events,
rows). With CPython's default thresholds (700, 10, 10) the collector ran every few
events and, as the cache grew, walked the whole heap again and again: about 12 % of a
worker's CPU in ``benchmarks/cpu_profile`` (some 20 us per event), charged by the
profiler to whatever line happened to allocate (a list comprehension of the save, the
JSON decoder). Almost none of these objects are in reference cycles: reference counting
frees them as soon as a batch is done with them, and a collection only has to find the
rare cycle (an exception's traceback, say).

So the objects made at start (imports, catalogue, rules, engine) are moved out of the
collector's sight (``gc.freeze``), and a young collection waits for ``YOUNG`` new
container objects instead of 700; the older generations keep their ratios, scaled. The
garbage cycles a batch may leave wait longer, bounded by that count (a few megabytes).
"""

from __future__ import annotations

import gc

YOUNG = 100_000
"""New container objects (net of those freed) before a young collection: a few batches."""
MIDDLE = 50
"""Young collections before the middle generation is collected."""
OLD = 100
"""Middle collections before a full one (which CPython also defers until the objects
that survived since the last one are a quarter of the heap)."""


def tune_for_worker() -> None:
    """Called once the worker is built, before its loop: what exists then lives as long
    as the process."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG, MIDDLE, OLD)
