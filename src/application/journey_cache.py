"""The journeys a worker keeps in memory, bounded by their size rather than their count.

A journey remembers every hash it applied (that is how a replay counts nothing twice),
so journeys differ in size by orders of magnitude (docs/benchmarks.md gives the
measurements). A cache of a fixed number of journeys, whatever their size, either holds
too few of the common small ones (a large backlog over many users then reloads journeys
all along) or lets a few long histories take any amount of memory. This cache keeps the
most recently used journeys within a byte budget, estimated from each journey's hash
count when it is stored.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any
from uuid import UUID

from eventsourcing.application import Cache

from src.domain.user_journey import UserJourney

JOURNEY_BYTES = 1_700
"""A journey's own objects, measured with ``tracemalloc`` (docs/benchmarks.md)."""
HASH_BYTES = 150
"""One applied hash: the 64-character text and its slot in the journey's dict."""
BUDGET_BYTES = 64 * 2**20
"""Tens of thousands of ordinary journeys: a whole backlog's users stay in memory."""


def journey_bytes(journey: object) -> int:
    hashes = len(journey.applied_hashes) if isinstance(journey, UserJourney) else 0
    return JOURNEY_BYTES + HASH_BYTES * hashes


class JourneyCache(Cache[UUID, Any]):
    """Least recently used journeys go first once the estimated total passes the budget.

    The interface is eventsourcing's ``Cache`` (its repository and ``save`` call
    ``get`` and ``put``). A journey is re-estimated each time it is put, which ``save``
    does after every change. Safe across threads: the HTTP API reads journeys while the
    worker folds.

    Beside each journey it may keep the stored bytes of the journey's last event
    (``remember_last``): comparing them with the row in the store tells, without
    decoding it, that the journey in memory is still the stored one (a user forgotten
    by another process is not).
    """

    def __init__(self, budget_bytes: int = BUDGET_BYTES) -> None:
        super().__init__()
        self.budget_bytes = budget_bytes
        self.estimated_bytes = 0
        self._entries: OrderedDict[UUID, tuple[Any, int]] = OrderedDict()
        self._last: dict[UUID, bytes] = {}
        self._lock = threading.Lock()

    def get(self, key: UUID, *, evict: bool = False) -> Any:
        with self._lock:
            if evict:
                value, size = self._entries.pop(key)
                self._last.pop(key, None)
                self.estimated_bytes -= size
                return value
            value, _ = self._entries[key]
            self._entries.move_to_end(key)
            return value

    def put(self, key: UUID, value: Any | None) -> None:
        if value is None:
            return
        size = journey_bytes(value)
        with self._lock:
            previous = self._entries.pop(key, None)
            if previous is not None:
                self.estimated_bytes -= previous[1]
            # A journey put is a journey changed: what was its last event no longer is.
            self._last.pop(key, None)
            self._entries[key] = (value, size)
            self.estimated_bytes += size
            self._shrink()

    def remember_last(self, key: UUID, state: bytes) -> None:
        """The stored bytes of the last event of the journey cached under ``key``."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return
            value, size = entry
            previous = self._last.get(key)
            grown = size - (len(previous) if previous else 0) + len(state)
            self._entries[key] = (value, grown)
            self._last[key] = state
            self.estimated_bytes += grown - size
            self._shrink()

    def last_stored(self, key: UUID) -> bytes | None:
        with self._lock:
            return self._last.get(key)

    def _shrink(self) -> None:
        while self.estimated_bytes > self.budget_bytes and len(self._entries) > 1:
            evicted, (_, evicted_size) = self._entries.popitem(last=False)
            self._last.pop(evicted, None)
            self.estimated_bytes -= evicted_size
