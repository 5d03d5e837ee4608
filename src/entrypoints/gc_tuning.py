"""The worker's garbage collector: rarer collections, which mostly found nothing to free.

A worker keeps tens of thousands of journeys in memory (``journey_cache.MAXSIZE``) and
allocates a great many short-lived objects per event (source events, domain events,
rows). With CPython's default thresholds (700, 10, 10) a young collection ran every
few dozen events, and full ones walked the whole, growing heap: about 10 % of a
worker's CPU in ``benchmarks/cpu_profile`` (some 20 us per event), charged by the
profiler to whatever line happened to allocate (a list comprehension of the save, the
JSON decoder). Almost none of these objects are in reference cycles: reference counting
frees them as soon as a batch is done with them, and a collection only has to find the
rare cycle (an exception's traceback, say).

So the objects made at start (imports, catalogue, rules, engine) are moved out of the
collector's sight (``gc.freeze``), and a young collection waits for ``YOUNG`` more
container objects (allocations less deallocations) instead of 700; the older
generations keep CPython's ratios (10 and 10), so each runs as much rarer. Objects that
reference counting frees do not count: the growth that triggers a collection is the
cache filling up and the garbage cycles themselves, whose memory stays bounded by these
counts (a few megabytes young; a full collection still comes after ``YOUNG`` times 100
more objects, and once the survivors since the last one are a quarter of the heap).
"""

from __future__ import annotations

import gc

YOUNG = 50_000
"""More container objects (net of those freed) before a young collection."""
MIDDLE = 10
"""Young collections before the middle generation is collected."""
OLD = 10
"""Middle collections before a full one."""


def tune_for_worker() -> None:
    """Called once the worker is built, before its loop: what exists then lives as long
    as the process."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG, MIDDLE, OLD)
