"""The thread that keeps the leases of the batches in hand alive."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager


class Heartbeat:
    """Renews the lease of every batch in hand, every ``interval``, from one thread.

    A short lease brings a crashed worker's events back within seconds, yet a slow
    batch (analysers, a long journey) keeps its events as long as its worker lives. A
    thread, not a task: folding and saving hold the event loop. One thread for all the
    batches, started when the first is taken in hand and ended once none is: starting a
    thread per batch would cost a measurable share of a batch.
    """

    def __init__(self, renew: Callable[[str], None], interval: float) -> None:
        self._renew = renew
        self._interval = interval
        self._lock = threading.Lock()
        self._holders: set[str] = set()
        self._thread: threading.Thread | None = None

    @contextmanager
    def holding(self, holder: str) -> Iterator[None]:
        with self._lock:
            self._holders.add(holder)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._beat, name="lease-heartbeat", daemon=True
                )
                self._thread.start()
        try:
            yield
        finally:
            with self._lock:
                self._holders.discard(holder)

    def _beat(self) -> None:
        while True:
            time.sleep(self._interval)
            with self._lock:
                holders = sorted(self._holders)
                if not holders:
                    self._thread = None
                    return
            for holder in holders:
                self._renew(holder)
