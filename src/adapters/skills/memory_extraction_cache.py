"""An ``ExtractionCache`` in memory, for tests (the worker keeps its cache in the store).

Bounded (least recently used entries go first), so a long run keeps a flat memory; an
entry evicted only costs one more call to the model. The extractor calls it from worker
threads: a lock keeps an eviction from racing a lookup.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence

from src.application.skills import ExtractionKey

DEFAULT_MAX_ENTRIES = 10_000


class InMemoryExtractionCache:
    def __init__(self, max_entries: int = DEFAULT_MAX_ENTRIES) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self._max_entries = max_entries
        self._entries: OrderedDict[ExtractionKey, tuple[str, ...]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: ExtractionKey) -> tuple[str, ...] | None:
        with self._lock:
            skills = self._entries.get(key)
            if skills is not None:
                self._entries.move_to_end(key)
            return skills

    def put(self, key: ExtractionKey, skills: Sequence[str]) -> None:
        with self._lock:
            self._entries[key] = tuple(skills)
            self._entries.move_to_end(key)
            while len(self._entries) > self._max_entries:
                self._entries.popitem(last=False)

    def forget_user(self, user_id: str) -> int:
        with self._lock:
            doomed = [key for key in self._entries if key.user_id == user_id]
            for key in doomed:
                del self._entries[key]
            return len(doomed)

    def __len__(self) -> int:
        return len(self._entries)
