"""The journeys a worker keeps in memory: eventsourcing's LRU cache, plus each journey's
last stored event.

A journey's state is bounded (counters within the rules' windows, no history), so a
count bounds the memory; ``MAXSIZE`` journeys keep a whole backlog's users in hand
(docs/benchmarks.md has a journey's size).

Beside each journey the cache may keep the stored bytes of the journey's last event
(``remember_last``): comparing them with the row in the store tells, without decoding
it, that the journey in memory is still the stored one (a user forgotten by another
process is not). And the store's count of erasures when the journey was last known to
be the stored one (``erasures_seen``): while the count has not moved, no history was
deleted, and the journey needs no such comparison. Both leave with their journey.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from typing import Any
from uuid import UUID

from eventsourcing.application import LRUCache

MAXSIZE = 30_000


class JourneyCache(LRUCache[UUID, Any]):
    """Thread safe, as eventsourcing's: the HTTP API reads journeys while the worker folds."""

    def __init__(self, maxsize: int = MAXSIZE) -> None:
        super().__init__(maxsize)
        self._last: dict[UUID, bytes] = {}
        self._erasures: dict[UUID, int] = {}
        self._last_lock = threading.Lock()

    def get(self, key: UUID, *, evict: bool = False) -> Any:
        with self._last_lock:
            if evict:
                self._last.pop(key, None)
                self._erasures.pop(key, None)
            return super().get(key, evict=evict)

    def put(self, key: UUID, value: Any | None, *, erasures: int | None = None) -> Any | None:
        """``erasures``: the count of erasures at a moment this very journey was the
        stored one; without it (eventsourcing's own puts), nothing is known."""
        if value is None:
            return None
        with self._last_lock:
            return self._put(key, value, erasures)

    def saved(
        self, journeys: Iterable[Any], last: Mapping[UUID, bytes], *, erasures: int | None
    ) -> None:
        """Journeys just stored (``put`` each), then their last events' stored bytes
        (``remember_last``): a save's whole batch under one hold of the lock."""
        with self._last_lock:
            for journey in journeys:
                self._put(journey.id, journey, erasures)
            for key, state in last.items():
                if key in self.cache:
                    self._last[key] = state

    def _put(self, key: UUID, value: Any, erasures: int | None) -> Any | None:
        # A journey put is a journey changed: what was its last event no longer is.
        self._last.pop(key, None)
        if erasures is None:
            self._erasures.pop(key, None)
        else:
            self._erasures[key] = erasures
        evicted = super().put(key, value)
        evicted_key = evicted[0] if isinstance(evicted, tuple) else None
        if evicted_key is not None:
            self._last.pop(evicted_key, None)
            self._erasures.pop(evicted_key, None)
        return evicted

    def erasures_seen(self, key: UUID) -> int | None:
        """The count of erasures when the journey cached under ``key`` was last known to be
        the stored one; None when unknown."""
        with self._last_lock:
            return self._erasures.get(key)

    def remember_last(self, key: UUID, state: bytes) -> None:
        """The stored bytes of the last event of the journey cached under ``key``."""
        with self._last_lock:
            if key in self.cache:
                self._last[key] = state

    def last_stored(self, key: UUID) -> bytes | None:
        with self._last_lock:
            return self._last.get(key)
